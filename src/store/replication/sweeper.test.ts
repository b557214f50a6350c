// The compaction sweeper's own job, with nothing else touching the keys: after a burst of
// writes and then silence, every replica's stored state of a hot counter is folded into its
// base, and keys whose TTL passed are gone from every disk — also on a node restarted right
// after the burst, whose list of keys to look at died with it (the slow scan finds them).
// Deterministic: simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { decodeState } from "../crdt/crdt.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

test("sweeper alone - after a burst and silence, a hot counter is folded into its base and expired keys leave every disk, also on a node restarted after the burst", async () => {
  const planet = parsePlanet(simPlanetYaml);
  const ids = planet.storeNodes.map((n) => n.id);
  const c = new SimCluster({ planet, seed: 41 });
  await c.startAll();
  await c.advance(1_000);
  const writes = [];
  for (let i = 0; i < 100; i++) {
    writes.push(
      c.settle(
        c.mutate(ids[i % ids.length]!, {
          key: "hot",
          mutation: { kind: "incr", by: 1 },
          opId: `hot-${i}`,
          consistency: "global",
        }),
      ),
    );
  }
  for (let i = 0; i < 20; i++) {
    writes.push(
      c.settle(
        c.mutate("lon-store1", {
          key: `short-${i}`,
          mutation: { kind: "set", value: i, ttlS: 3 },
          opId: `short-${i}`,
          consistency: "global",
        }),
      ),
    );
  }
  for (const w of await Promise.all(writes)) assert.ok(w.ok, String(!w.ok && w.error.message));
  await c.advance(500);
  const stored = (id: string, key: string) => {
    const row = c.nodes.get(id)!.storage.getKey(key);
    return row ? decodeState(row.state) : undefined;
  };
  assert.ok(Object.keys(stored("nyc-store1", "hot")!.ops).length > 1, "right after the burst the ops are separate");
  // A node that dies now forgets which keys it meant to compact.
  c.crash("sin-store2");
  await c.restart("sin-store2");
  // Silence: no read, no write. Only the tick's sweep may change what is stored.
  await c.advance(40_000);
  for (const id of ids) {
    const hot = stored(id, "hot");
    assert.ok(hot, `${id} holds the counter`);
    assert.deepEqual(Object.keys(hot.ops), [], `${id}: every increment folded`);
    assert.equal(hot.base, 100, `${id}: into a base of 100`);
    for (let i = 0; i < 20; i++)
      assert.equal(stored(id, `short-${i}`), undefined, `${id}: short-${i} expired off disk`);
  }
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});
