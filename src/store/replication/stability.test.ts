// Stability points taken over from peers, deterministically (simulated network, clock and
// disks). Each node learns the stability point from the last `complete` it heard from every
// peer; a peer that dies was heard last at different times by different nodes, so without
// taking over a peer's later point the nodes' points stay apart until the dead peer counts as
// gone (store.deadPeerAfterS, 600 s by default), and a TTL that passed between them is
// dropped on some replicas and kept on others (sim seed 1059 at c4ce4af: a TTL'd counter that
// anti-entropy sent back and forth, the trees never agreeing). Tombstones and dedup ids, too,
// would be dropped at different times on different nodes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { metricValue, rootsAgree } from "../testkit/sim-end.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const planet = parsePlanet(simPlanetYaml);
const keys = Array.from({ length: 24 }, (_, i) => `ttl${i}`);

test("a node that heard a dead peer's gossip last takes over its peers' later stability point: every live node holds the same point, TTL'd keys are gone everywhere and the trees agree", async (t) => {
  const c = new SimCluster({ planet, seed: 1059 });
  t.after(() => c.stopAll());
  await c.startAll();
  await c.advance(2_000);

  // lon-store1 stops hearing sin-store1's gossip (everything else flows, so lon-store1 stays
  // complete and everyone else's stability moves on).
  c.network.holdBack((from, to, m) => from === "sin-store1" && to === "lon-store1" && m[0] === "stab");
  await c.advance(1_000);
  const writes = keys.map((key, i) =>
    c.settle(
      c.mutate("nyc-store1", {
        key,
        mutation: { kind: "incr", by: 1, ttlS: 2 },
        opId: `ttl-${i}`,
        consistency: "local-quorum",
      }),
    ),
  );
  for (const r of await Promise.all(writes)) assert.ok(r.ok, "every TTL'd write is acknowledged");
  await c.advance(6_000);

  c.crash("sin-store1");
  c.network.holdBack(undefined);
  const live = [...c.nodes.keys()].filter((n) => n !== "sin-store1");
  let agreedMs = -1;
  for (let waitedMs = 0; waitedMs < 30_000; waitedMs += 500) {
    await c.advance(500);
    if (rootsAgree(c, planet, live)) {
      agreedMs = waitedMs + 500;
      break;
    }
  }
  assert.ok(agreedMs > 0, "the live replicas' hash trees agree within 30 s of the death");
  t.diagnostic(`trees agreed ${agreedMs} ms after sin-store1 died`);
  for (let i = 0; i < 20; i++) {
    await c.advance(500);
    assert.ok(rootsAgree(c, planet, live), `the trees still agree ${agreedMs + 500 * (i + 1)} ms after the death`);
  }

  const points = new Set(live.map((n) => c.engine(n)!.stable));
  assert.equal(points.size, 1, "every live node holds the same stability point");
  const adopted = metricValue(c.engine("lon-store1")!.metricsText(), "redshirt_store_stable_adopted_total");
  assert.ok(adopted > 0, "lon-store1 took over a peer's point");
  for (const key of keys) {
    for (const n of live) {
      const r = await c.settle(c.read(n, { key, consistency: "local-one" }));
      assert.ok(r.ok && !r.value.value.exists, `${key} has expired at ${n}`);
    }
  }
  assert.equal(c.internalErrors(), 0, "no internal errors");
});
