// Disk loss, deterministically: a node comes back on an empty disk under its old id after
// its counters were compacted everywhere. It must be told it is a new incarnation, claim
// nothing (stability freezes) until it has pulled and pushed every partition, and no replica
// may ever read less than what was acknowledged. Simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const counters = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];

async function increments(c: SimCluster, nodes: readonly string[], round: string, acked: Map<string, number>) {
  const writes = [];
  for (const [i, node] of nodes.entries()) {
    for (const key of counters) {
      const opId = `${round}-${node}-${key}`;
      writes.push(
        c.settle(c.mutate(node, { key, mutation: { kind: "incr", by: 1 }, opId, consistency: "global" })).then((r) => {
          if (r.ok) acked.set(key, (acked.get(key) ?? 0) + 1);
          return r.ok || i;
        }),
      );
    }
  }
  await Promise.all(writes);
}

test("disk loss - a node back on an empty disk under its old id is refilled as a new incarnation, stability waits for it, and no replica ever reads a counter below what was acknowledged", async (t) => {
  const c = new SimCluster({ planet: parsePlanet(simPlanetYaml), seed: 31 });
  await c.startAll();
  await c.advance(2_000);
  const everyone = [...c.nodes.keys()];
  for (const id of everyone)
    assert.equal(c.engine(id)!.incarnation.phase, "sound", `${id}: a new planet has nothing to refill`);
  const firstIncarnation = c.engine("nyc-store1")!.incarnation.id;
  const acked = new Map<string, number>();
  for (let round = 0; round < 5; round++) await increments(c, everyone, `r${round}`, acked);
  // Long enough for stability to pass every op and the sweeper to fold them into the bases.
  await c.advance(6_000);
  const stableBefore = c.engine("lon-store1")!.stable;
  assert.ok(stableBefore > 0, "stability advanced before the loss");

  const ackedBeforeLoss = new Map(acked);
  c.crash("nyc-store1");
  c.nodes.get("nyc-store1")!.storage = new MemoryStorage();
  await c.restart("nyc-store1");
  const reborn = c.engine("nyc-store1")!;
  assert.notEqual(reborn.incarnation.id, firstIncarnation, "an empty disk is a new incarnation");
  // Load goes on, through the reborn node too, while it refills.
  // The history acknowledged before the loss must never vanish from a replica that serves it.
  const shrunk: string[] = [];
  const frozen: string[] = [];
  let stableWhileRefilling: number | undefined;
  const check = async () => {
    const phase = reborn.incarnation.phase;
    if (phase === "refilling") {
      // While it refills, no stability point moves (it claims nothing; its peers hold back what they got from it).
      stableWhileRefilling ??= c.engine("sin-store2")!.stable;
      if (c.engine("sin-store2")!.stable !== stableWhileRefilling)
        frozen.push(`sin-store2 stable moved while refilling`);
    }
    for (const id of everyone) {
      for (const key of counters) {
        const v = await c.counterAt(id, key);
        if (v !== undefined && v < (ackedBeforeLoss.get(key) ?? 0))
          shrunk.push(`${id} (${c.engine(id)!.incarnation.phase}) ${key} ${v} < ${ackedBeforeLoss.get(key)}`);
      }
    }
  };
  for (let round = 5; round < 10; round++) {
    await increments(c, everyone, `r${round}`, acked);
    await check();
  }
  let waitedMs = 0;
  while (reborn.incarnation.phase !== "sound" && waitedMs < 30_000) {
    await check();
    await c.advance(100);
    waitedMs += 100;
  }
  const health = reborn.health().incarnation!;
  t.diagnostic(`reborn node: ${JSON.stringify(health)}`);
  assert.equal(health.phase, "sound", "the reborn node finished its refill");
  assert.equal(health.reborn, true, "its peers told it that it had an earlier incarnation");
  assert.ok(health.keysPulled >= counters.length, "it pulled the counters from its peers");
  await c.advance(8_000);
  assert.ok(c.engine("lon-store1")!.stable > stableBefore, "stability moves again once the node is sound");
  for (const id of everyone) {
    for (const key of counters) {
      assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}: every acknowledged increment, once`);
    }
  }
  assert.deepEqual(shrunk, [], "no replica ever read a counter below what was acknowledged before the loss");
  assert.deepEqual(frozen, []);
  assert.ok(stableWhileRefilling !== undefined, "the refill was seen running");
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});
