// Disk loss meets the dead-peer bound, deterministically: a node back on an empty disk
// while another node is gone for good must still be refilled and become sound (a gone peer
// holds back nothing), the gone peer must be handled safely when it returns, and a node that
// may miss acknowledged writes must refuse reads rather than answer from its empty state.
// Simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RedshirtError } from "../../core/index.ts";
import { parsePlanet } from "../../topology/index.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const deadPeerAfterS = 5;
const planetYaml = simPlanetYaml.replace(
  "store: { partitions: 8, rf: 3 }",
  `store: { partitions: 8, rf: 3, deadPeerAfterS: ${deadPeerAfterS} }`,
);
const counters = ["c0", "c1", "c2", "c3"];

async function increments(c: SimCluster, nodes: readonly string[], rounds: number, acked: Map<string, number>) {
  for (let round = 0; round < rounds; round++) {
    const writes = [];
    for (const node of nodes) {
      for (const key of counters) {
        const opId = `${round}-${node}-${key}-${acked.get(key) ?? 0}`;
        writes.push(
          c
            .settle(c.mutate(node, { key, mutation: { kind: "incr", by: 1 }, opId, consistency: "local-quorum" }))
            .then((r) => {
              if (r.ok) acked.set(key, (acked.get(key) ?? 0) + 1);
            }),
        );
      }
    }
    await Promise.all(writes);
  }
}

/** A settled planet whose every node acknowledged `rounds` rounds of increments. */
async function startCounting(yaml: string, seed: number, rounds: number) {
  const c = new SimCluster({ planet: parsePlanet(yaml), seed });
  await c.startAll();
  await c.advance(2_000);
  const everyone = [...c.nodes.keys()];
  const acked = new Map<string, number>();
  await increments(c, everyone, rounds, acked);
  await c.advance(3_000);
  return { c, everyone, acked };
}

async function loseDisk(c: SimCluster, id: string): Promise<void> {
  c.crash(id);
  c.nodes.get(id)!.storage = new MemoryStorage();
  await c.restart(id);
}

test("disk loss while a peer is gone for good - the rebuilt node skips the gone peer, becomes sound, stability moves, and the gone peer coming back converges without losing an increment", async (t) => {
  const { c, everyone, acked } = await startCounting(planetYaml, 41, 3);

  // lon-store3 dies and stays dead past the bound: everyone counts it gone.
  c.crash("lon-store3");
  const alive = everyone.filter((n) => n !== "lon-store3");
  await increments(c, alive, 2, acked);
  await c.advance(deadPeerAfterS * 1_000 + 2_000);
  assert.ok(
    c
      .engine("nyc-store2")!
      .membership()
      .gone.some((g) => g.peer === "lon-store3"),
    "lon-store3 is gone",
  );

  await loseDisk(c, "nyc-store1");
  const reborn = c.engine("nyc-store1")!;
  const stableAtLoss = c.engine("sin-store1")!.stable;
  let waitedMs = 0;
  while (reborn.incarnation.phase !== "sound" && waitedMs < 60_000) {
    await c.advance(200);
    waitedMs += 200;
  }
  const health = reborn.health().incarnation!;
  t.diagnostic(`rebuilt node after ${waitedMs} ms: ${JSON.stringify(health)}`);
  assert.equal(health.phase, "sound", "the rebuilt node finished its refill although lon-store3 never answered");
  assert.equal(health.reborn, true, "its peers told it that it had an earlier incarnation");
  assert.ok(health.keysPulled >= counters.length, "it pulled the counters from the replicas that are there");
  await increments(c, alive, 1, acked);
  await c.advance(8_000);
  assert.ok(c.engine("sin-store1")!.stable > stableAtLoss, "stability moves again without the gone peer");
  for (const id of alive) {
    for (const key of counters) assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}`);
  }

  // The gone peer returns on its old disk: it is told of the new incarnation, and every
  // replica, the rebuilt one too, ends with every acknowledged increment exactly once.
  await c.restart("lon-store3");
  await increments(c, everyone, 1, acked);
  await c.advance(40_000);
  for (const id of everyone) {
    for (const key of counters) {
      assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}: every acknowledged increment, once`);
    }
  }
  assert.deepEqual(c.engine("nyc-store2")!.membership().gone, [], "nobody is gone any more");
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

test("disk loss - a new or refilling node cut off from its site's replicas refuses reads with a definite RS_ERR_STORE_UNAVAILABLE instead of answering from its empty state, and another node answers", async () => {
  const { c, acked } = await startCounting(planetYaml, 43, 5);
  assert.ok((acked.get("c0") ?? 0) >= 40, "the increments were acknowledged");

  c.crash("nyc-store1");
  c.nodes.get("nyc-store1")!.storage = new MemoryStorage();
  // Its site's replicas are unreachable from the moment it is back.
  c.network.partition(["nyc-store1"], ["nyc-store2", "nyc-store3"]);
  await c.restart("nyc-store1");
  // Until it has pulled every partition (from the other sites) it refuses; then it answers in full.
  const refusedIn = new Set<string>();
  const rebuilt = () => c.engine("nyc-store1")!.health().incarnation!;
  for (let i = 0; i < 300 && rebuilt().pulledMs < 0; i++) {
    const phase = rebuilt().phase;
    const r = await c.settle(c.read("nyc-store1", { key: "c0", consistency: "local-one" }));
    if (r.ok) {
      const v = r.value.value.exists ? (r.value.value.value as number) : 0;
      assert.equal(v, acked.get("c0"), `an answer in phase ${phase} carries every acknowledged increment`);
    } else {
      const error = r.error as RedshirtError;
      assert.equal(error.code, "RS_ERR_STORE_UNAVAILABLE", error.message);
      assert.equal(error.definite, true, "nothing was read: definite, another node may be asked");
      assert.match(error.message, /try another node/);
      refusedIn.add(phase);
    }
    await c.advance(50);
  }
  assert.ok(refusedIn.has("new"), "refused while new (not yet told whether it had an earlier incarnation)");
  assert.ok(refusedIn.has("refilling"), `refused while refilling (refused in: ${[...refusedIn].join(", ")})`);
  assert.equal(await c.counterAt("nyc-store2", "c0"), acked.get("c0"), "a sound node of the site answers");
  c.network.heal();
  let waitedMs = 0;
  while (c.engine("nyc-store1")!.incarnation.phase !== "sound" && waitedMs < 60_000) {
    await c.advance(200);
    waitedMs += 200;
  }
  assert.equal(await c.counterAt("nyc-store1", "c0"), acked.get("c0"), "once refilled it answers itself");
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

test("a brand-new planet - a read issued right at the start, before the nodes confirmed each other, is answered (every node is new: nothing to miss)", async () => {
  const c = new SimCluster({ planet: parsePlanet(planetYaml), seed: 47 });
  await c.startAll();
  assert.notEqual(c.engine("nyc-store1")!.incarnation.phase, "sound", "read before the planet settled");
  const r = await c.settle(c.read("nyc-store1", { key: "c0", consistency: "local-one" }));
  assert.ok(r.ok, `answered: ${!r.ok && r.error.message}`);
  assert.equal(r.value.value.exists, false);
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

test("disk loss - a peer that leaves the membership while the rebuilt node pulls from it is not waited for: the node becomes sound once the leave is done", async (t) => {
  // The default dead-peer bound (600 s) never passes here: only the leave lets the refill end.
  const { c, everyone, acked } = await startCounting(simPlanetYaml, 53, 3);

  await loseDisk(c, "nyc-store1");
  const rebuilt = () => c.engine("nyc-store1")!.health().incarnation!;
  for (let i = 0; i < 600 && rebuilt().keysPulled === 0; i++) await c.advance(5);
  assert.ok(
    rebuilt().keysPulled > 0 && rebuilt().pulledMs < 0,
    "the refill is pulling (lon-store3 confirmed the new incarnation)",
  );
  // lon-store3 dies in the middle of the refill and is taken out of the membership.
  c.crash("lon-store3");
  c.engine("nyc-store2")!.changeMembership({ op: "leave", node: "lon-store3" });
  let waitedMs = 0;
  while ((rebuilt().phase !== "sound" || c.engine("nyc-store1")!.membership().changing) && waitedMs < 120_000) {
    await c.advance(500);
    waitedMs += 500;
  }
  t.diagnostic(`after ${waitedMs} ms: ${JSON.stringify(rebuilt())}`);
  assert.equal(c.engine("nyc-store1")!.membership().changing, false, "the leave finished");
  assert.equal(rebuilt().phase, "sound", "the rebuilt node did not wait for the node that left");
  const alive = everyone.filter((n) => n !== "lon-store3");
  for (const id of alive) {
    for (const key of counters) assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}`);
  }
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

test("disk loss after a peer went gone under a long dead-peer bound - the rebuilt node takes it as gone on its peers' word within seconds, not a whole bound after its own start, and no acknowledged increment is lost when the gone peer returns", async (t) => {
  const longBoundS = 120;
  const yaml = simPlanetYaml.replace(
    "store: { partitions: 8, rf: 3 }",
    `store: { partitions: 8, rf: 3, deadPeerAfterS: ${longBoundS} }`,
  );
  const { c, everyone, acked } = await startCounting(yaml, 59, 3);
  c.crash("lon-store3");
  const alive = everyone.filter((n) => n !== "lon-store3");
  await increments(c, alive, 2, acked);
  await c.advance(longBoundS * 1_000 + 2_000);
  const stableAtGone = c.engine("sin-store1")!.stable;
  await c.advance(2_000);
  assert.ok(c.engine("sin-store1")!.stable > stableAtGone, "stability went on without the gone peer");

  await loseDisk(c, "nyc-store1");
  const reborn = c.engine("nyc-store1")!;
  const stableAtLoss = c.engine("sin-store1")!.stable;
  let waitedMs = 0;
  while (reborn.incarnation.phase !== "sound" && waitedMs < 30_000) {
    await c.advance(200);
    waitedMs += 200;
  }
  t.diagnostic(`rebuilt node sound ${waitedMs} ms after its start: ${JSON.stringify(reborn.health().incarnation)}`);
  assert.equal(reborn.incarnation.phase, "sound", `sound within 30 s (the bound is ${longBoundS} s)`);
  assert.ok(
    reborn.membership().gone.some((g) => g.peer === "lon-store3"),
    "the rebuilt node counts the dead peer gone although it has been silent for seconds only since its start",
  );
  assert.ok(
    reborn.incarnation.unconfirmed.includes("lon-store3"),
    "it became sound without the dead peer's confirmation: that peer's stream waits for it",
  );
  await increments(c, alive, 1, acked);
  await c.advance(5_000);
  assert.ok(c.engine("sin-store1")!.stable > stableAtLoss, "stability moves again");
  for (const id of alive) {
    for (const key of counters) assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}`);
  }

  // The gone peer returns on its old disk: it is back everywhere, the rebuilt node included,
  // and every replica ends with every acknowledged increment exactly once.
  await c.restart("lon-store3");
  await increments(c, everyone, 1, acked);
  await c.advance(40_000);
  for (const id of everyone) {
    for (const key of counters) {
      assert.equal(await c.counterAt(id, key), acked.get(key), `${id} ${key}: every acknowledged increment, once`);
    }
  }
  assert.deepEqual(reborn.membership().gone, [], "nobody is gone any more");
  assert.equal(reborn.incarnation.unconfirmed.length, 0, "the returned peer confirmed the new incarnation");
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});
