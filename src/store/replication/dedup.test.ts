// Exactly once for a day: a retry long after the op's id folded out of the key's state, on
// a node of another site, is recognised by the dedup table and counts once; rows expire
// once past the planet's window. Deterministic: simulated network and clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
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
