// Exactly once for a day: a retry long after the op's id folded out of the key's state, on
// a node of another site, is recognised by the dedup table and counts once; rows expire
// once past the planet's window. Deterministic: simulated network and clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { metricValue } from "../testkit/sim-end.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const ids = parsePlanet(simPlanetYaml).storeNodes.map((n) => n.id);

async function cluster(seed: number, yaml = simPlanetYaml): Promise<SimCluster> {
  const c = new SimCluster({ planet: parsePlanet(yaml), seed });
  await c.startAll();
  await c.advance(1_000);
  return c;
}

async function counterEverywhere(c: SimCluster, key: string): Promise<number[]> {
  const out: number[] = [];
  for (const id of ids) {
    const r = await c.settle(c.read(id, { key, consistency: "local-one" }));
    assert.ok(r.ok, String(!r.ok && r.error.message));
    out.push(r.value.value.value as number);
  }
  return out;
}

test("dedup - an increment retried 30 s later on a node of another site counts once and gets the same answer", async () => {
  const c = await cluster(31);
  const incr = {
    key: "visits",
    mutation: { kind: "incr", by: 1 },
    opId: "visit-1",
    consistency: "local-quorum",
  } as const;
  const first = await c.settle(c.mutate("nyc-store1", incr));
  assert.ok(first.ok, String(!first.ok && first.error.message));
  assert.equal(first.value.duplicate, false);
  // Well past stability and compaction: the op id has folded out of the counter's state.
  await c.advance(30_000);
  assert.ok(c.engine("lon-store2")!.stable > 0, "stability moved on");
  for (const id of ["lon-store2", "sin-store3", "nyc-store1"]) {
    const retry = await c.settle(c.mutate(id, incr));
    assert.ok(retry.ok, `${id}: ${!retry.ok && retry.error.message}`);
    assert.equal(retry.value.duplicate, true, `${id} recognises the retry`);
    assert.equal(retry.value.value.value, 1, `${id} answers the counter's value after the op`);
  }
  await c.advance(3_000);
  assert.deepEqual(
    await counterEverywhere(c, "visits"),
    ids.map(() => 1),
  );
  // A new op id still counts.
  const second = await c.settle(c.mutate("sin-store1", { ...incr, opId: "visit-2" }));
  assert.ok(second.ok, String(!second.ok && second.error.message));
  assert.equal(second.value.duplicate, false);
  await c.advance(3_000);
  assert.deepEqual(
    await counterEverywhere(c, "visits"),
    ids.map(() => 2),
  );
  await c.stopAll();
});

test("dedup - rows expire once past store.dedupWindowS, by the tick alone", async () => {
  const c = await cluster(32, simPlanetYaml.replace("rf: 3 }", "rf: 3, dedupWindowS: 20 }"));
  for (let i = 0; i < 5; i++) {
    const w = await c.settle(
      c.mutate("nyc-store1", {
        key: `k${i}`,
        mutation: { kind: "incr", by: 1 },
        opId: `op-${i}`,
        consistency: "local-one",
      }),
    );
    assert.ok(w.ok);
  }
  await c.advance(3_000);
  for (const id of ids) assert.equal(c.nodes.get(id)!.storage.dedupCount(), 5, `${id} learned every op id`);
  await c.advance(20_000);
  for (const id of ids) assert.equal(c.nodes.get(id)!.storage.dedupCount(), 0, `${id} expired them`);
  await c.stopAll();
});

test("dedup - a node rebuilt on an empty disk pulls its peers' dedup tables in the refill: an old write retried there counts once", async () => {
  const c = await cluster(33);
  const incr = (opId: string) =>
    ({ key: "orders", mutation: { kind: "incr", by: 1 }, opId, consistency: "global" }) as const;
  for (let i = 0; i < 20; i++) {
    const w = await c.settle(c.mutate(ids[i % ids.length]!, incr(`order-${i}`)));
    assert.ok(w.ok, String(!w.ok && w.error.message));
  }
  // Past stability and compaction: the ids live only in the dedup tables now.
  await c.advance(30_000);
  c.crash("nyc-store2");
  c.nodes.get("nyc-store2")!.storage = new MemoryStorage();
  await c.restart("nyc-store2");
  const reborn = c.engine("nyc-store2")!;
  for (let s = 0; s < 60 && reborn.incarnation.phase !== "sound"; s++) await c.advance(1_000);
  assert.equal(reborn.incarnation.phase, "sound", "the rebuilt node finished its refill");
  const rows = c.nodes.get("nyc-store2")!.storage.dedupCount();
  assert.ok(rows >= 20, `the rebuilt node holds the peers' dedup rows (${rows})`);
  assert.ok(
    metricValue(reborn.metricsText(), 'redshirt_store_refill_keys_total{direction="dedup"}') >= 20,
    "the refill moved them",
  );
  // Every old write retried at the rebuilt node: recognised, not counted again.
  for (let i = 0; i < 20; i++) {
    const retry = await c.settle(c.mutate("nyc-store2", incr(`order-${i}`)));
    assert.ok(retry.ok, String(!retry.ok && retry.error.message));
    assert.equal(retry.value.duplicate, true, `order-${i} is a retry`);
  }
  await c.advance(3_000);
  assert.deepEqual(
    await counterEverywhere(c, "orders"),
    ids.map(() => 20),
  );
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

test("dedup - while a rebuilt node still pulls its history, a write sent to it is coordinated by a replica that holds it", async () => {
  const c = await cluster(34);
  const w = await c.settle(
    c.mutate("nyc-store1", { key: "k", mutation: { kind: "incr", by: 1 }, opId: "early", consistency: "global" }),
  );
  assert.ok(w.ok);
  await c.advance(30_000);
  // lon-store1 is down, so the rebuilt node's refill cannot finish (it waits for every peer).
  c.crash("lon-store1");
  c.crash("nyc-store2");
  c.nodes.get("nyc-store2")!.storage = new MemoryStorage();
  await c.restart("nyc-store2");
  await c.advance(3_000);
  const reborn = c.engine("nyc-store2")!;
  assert.notEqual(reborn.incarnation.phase, "sound", "still refilling");
  const retry = await c.settle(
    c.mutate("nyc-store2", { key: "k", mutation: { kind: "incr", by: 1 }, opId: "early", consistency: "local-quorum" }),
  );
  assert.ok(retry.ok, String(!retry.ok && retry.error.message));
  assert.equal(retry.value.duplicate, true, "recognised as a retry");
  const hits = (id: string) =>
    metricValue(c.engine(id)!.metricsText(), 'redshirt_store_dedup_hits_total{from="coordinator"}') +
    metricValue(c.engine(id)!.metricsText(), 'redshirt_store_dedup_hits_total{from="peer"}');
  assert.equal(hits("nyc-store2"), 0, "not by the rebuilt node itself");
  assert.equal(hits("nyc-store1") + hits("nyc-store3"), 1, "by a replica of its site that holds the history");
  await c.stopAll();
});
