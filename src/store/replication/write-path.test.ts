// A write carries the session token and is stamped after every write the token covers, so
// a session's later write wins over its earlier ones whatever the coordinators' clocks say
// (found by the simulation: a delete at a node whose clock ran ahead, then a set at a node
// whose clock lagged, left the key deleted for good).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";
import { mergeSessionTokens } from "./session-encoding.ts";

test("write path - a session's write at a node whose clock lags is stamped after the session's earlier delete at a node whose clock runs ahead", async () => {
  const skews: Record<string, number> = { "nyc-store1": 800, "lon-store1": -800 };
  const c = new SimCluster({
    planet: parsePlanet(simPlanetYaml),
    seed: 9,
    skewOf: (id) => ({ offsetMs: skews[id] ?? 0, driftPpm: 0 }),
  });
  await c.startAll();
  await c.advance(1_500);
  const key = "user/1";
  const set1 = await c.settle(
    c.mutate("nyc-store1", { key, mutation: { kind: "set", value: 1 }, opId: "w1", consistency: "local-quorum" }),
  );
  assert.ok(set1.ok);
  const del = await c.settle(
    c.mutate("nyc-store1", {
      key,
      mutation: { kind: "del" },
      opId: "w2",
      consistency: "local-quorum",
      token: set1.value.token,
    }),
  );
  assert.ok(del.ok);
  // The session fails over to London at once, before London hears anything from New York.
  const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
  c.network.partition(
    nyc,
    c.planet.storeNodes.map((n) => n.id).filter((id) => !nyc.includes(id)),
  );
  const token = mergeSessionTokens(set1.value.token, del.value.token);
  const set2 = await c.settle(
    c.mutate("lon-store1", {
      key,
      mutation: { kind: "set", value: 2 },
      opId: "w3",
      consistency: "local-quorum",
      token,
    }),
  );
  assert.ok(set2.ok);
  c.network.heal();
  await c.advance(10_000);
  for (const id of ["nyc-store1", "lon-store2", "sin-store3"]) {
    const r = await c.settle(c.read(id, { key, consistency: "local-one" }));
    assert.ok(r.ok);
    assert.deepEqual(r.value.value, { exists: true, type: "reg", value: 2 }, `at ${id}: the session's last write wins`);
  }
  await c.stopAll();
});
