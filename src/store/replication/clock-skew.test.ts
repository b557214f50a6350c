// A node whose wall clock is beyond the drift limit (hlcMaxDriftMs) ahead: the store does
// not refuse it, but no peer follows its clock (each stamp it sends is ignored and counted
// as rejected), so it cannot drag the planet into the future; its writes still replicate
// and count (docs/store-internals.md, "Skewed clocks").
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { hlcMaxDriftMs } from "../constants.ts";
import { hlcWallMs } from "../crdt/hlc.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

test("clock skew - a node 90 s ahead is not followed: peers count its stamps rejected and keep their HLCs within the drift limit, and its increments still count everywhere", async () => {
  const fast = "lon-store2";
  const c = new SimCluster({
    planet: parsePlanet(simPlanetYaml),
    seed: 3,
    skewOf: (id) => (id === fast ? { offsetMs: hlcMaxDriftMs + 30_000, driftPpm: 0 } : { offsetMs: 0, driftPpm: 0 }),
  });
  await c.startAll();
  await c.advance(1_500);
  let acked = 0;
  for (let i = 0; i < 20; i++) {
    const at = i % 2 === 0 ? fast : "nyc-store1";
    const r = await c.settle(
      c.mutate(at, { key: "hits", mutation: { kind: "incr", by: 1 }, opId: `h${i}`, consistency: "local-quorum" }),
    );
    assert.ok(r.ok, `write ${i} at ${at}: ${!r.ok && r.error.message}`);
    acked++;
    await c.advance(50);
  }
  await c.advance(5_000);
  const ids = c.planet.storeNodes.map((n) => n.id);
  for (const id of ids) {
    const r = await c.settle(c.read(id, { key: "hits", consistency: "local-one" }));
    assert.ok(r.ok);
    assert.equal(r.value.value.value, acked, `${id} counts every increment once`);
    if (id === fast) continue;
    const engine = c.engine(id)!;
    assert.ok(hlcWallMs(engine.hlcLast) - c.wallMs(id) <= hlcMaxDriftMs, `${id} did not follow the fast clock`);
    const rejected = /redshirt_store_hlc_remote_stamps\{kind="rejected"\} (\d+)/.exec(engine.metricsText());
    assert.ok(Number(rejected?.[1] ?? 0) > 0, `${id} counted the fast node's stamps as rejected`);
  }
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});
