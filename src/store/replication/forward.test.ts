// A request at a node that does not replicate the key is forwarded to a replica of its site.
// When none is reachable nothing is sent anywhere, so the error must be definite (the client
// may report the failure) rather than RS_ERR_STORE_CONSISTENCY (maybe applied).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { partitionOf, replicasOf } from "./partition.ts";

const fourYaml =
  "name: fwd\nzone: f.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0, tiers: { store: 4 } }\nstore: { partitions: 8, rf: 3 }\n";

test("forward - with no replica of the key reachable, a write and a read fail definitely with RS_ERR_STORE_UNAVAILABLE and nothing is applied", async () => {
  const c = new SimCluster({ planet: parsePlanet(fourYaml), seed: 5 });
  await c.startAll();
  await c.advance(1_000);
  const key = "fwd-key";
  const ids = c.planet.storeNodes.map((n) => n.id);
  const replicas = replicasOf(partitionOf(key, c.planet.store.partitions), ids, c.planet.store.rf);
  const outsider = ids.find((id) => !replicas.includes(id))!;
  for (const r of replicas) c.crash(r);
  await c.advance(1_000);
  const w = await c.settle(
    c.mutate(outsider, { key, mutation: { kind: "incr", by: 1 }, opId: "fwd-1", consistency: "local-one" }),
  );
  assert.ok(!w.ok);
  const err = w.error as Error & { code?: string; definite?: boolean };
  assert.equal(err.code, "RS_ERR_STORE_UNAVAILABLE");
  assert.equal(err.definite, true);
  const r = await c.settle(c.read(outsider, { key, consistency: "local-one" }));
  assert.ok(!r.ok);
  assert.equal((r.error as { code?: string }).code, "RS_ERR_STORE_UNAVAILABLE");
  // Nothing was applied: once the replicas are back, the key does not exist.
  for (const id of replicas) await c.restart(id);
  await c.advance(2_000);
  const after = await c.settle(c.read(replicas[0], { key, consistency: "all" }));
  assert.ok(after.ok);
  assert.equal(after.value.value.exists, false);
  await c.stopAll();
});
