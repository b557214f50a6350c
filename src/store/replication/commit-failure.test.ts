// A failed commit (disk full, an I/O error) applies nothing and acknowledges nothing: the
// write fails with a definite RS_ERR_STORE_DISK_WRITE and leaves the hash trees as they
// were, and a replica whose commit of a stream batch failed never acknowledges a later batch
// past the hole. Deterministic: simulated network, clock and in-memory disks that fail on
// request.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { partitionOf } from "./partition.ts";

const twoYaml =
  "name: disk\nzone: d.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0, tiers: { store: 2 } }\nstore: { partitions: 4, rf: 2 }\n";

async function start(seed: number): Promise<SimCluster> {
  const c = new SimCluster({ planet: parsePlanet(twoYaml), seed });
  await c.startAll();
  await c.advance(1_000);
  return c;
}

test("commit failure - a coordinator's failed commit fails the write definitely and changes nothing; the retry applies once", async () => {
  const c = await start(51);
  const key = "k";
  const p = partitionOf(key, c.planet.store.partitions);
  const rootBefore = c.engine("a-store1")!.treeRoot(p);
  c.nodes.get("a-store1")!.storage.failNextCommits(1);
  const req = { key, mutation: { kind: "incr", by: 7 }, opId: "d1", consistency: "local-one" } as const;
  const w = await c.settle(c.mutate("a-store1", req));
  assert.equal(!w.ok && (w.error as { code?: string }).code, "RS_ERR_STORE_DISK_WRITE");
  assert.equal(c.engine("a-store1")!.treeRoot(p), rootBefore, "the hash tree is as before");
  const r = await c.settle(c.read("a-store1", { key, consistency: "local-one" }));
  assert.ok(r.ok);
  assert.equal(r.value.value.exists, false, "nothing was applied");
  const retry = await c.settle(c.mutate("a-store1", req));
  assert.ok(retry.ok, String(!retry.ok && retry.error.message));
  assert.equal(retry.value.duplicate, false);
  assert.equal(retry.value.value.value, 7);
  assert.match(c.engine("a-store1")!.metricsText(), /redshirt_store_commit_failures_total 1\b/);
  await c.stopAll();
});

test("commit failure - a replica whose commit of a batch failed acknowledges no later batch past it: each write is acknowledged only once it is on that replica's disk", async () => {
  const c = await start(52);
  // rf 2 in one site: local-quorum needs both nodes, so every ack is the replica's.
  c.nodes.get("a-store2")!.storage.failNextCommits(1);
  const onReplica = (key: string) => c.nodes.get("a-store2")!.storage.getKey(key) !== undefined;
  const write = (key: string, opId: string) =>
    c
      .mutate("a-store1", {
        key,
        mutation: { kind: "incr", by: 1 },
        opId,
        consistency: "local-quorum",
        timeoutMs: 5_000,
      })
      .then((r) => ({ r, onReplica: onReplica(key) }));
  const first = write("first", "f1");
  await c.advance(20);
  const second = write("second", "s1");
  const [a, b] = await c.settle(Promise.all([first, second]));
  assert.ok(a.r.ok && b.r.ok, "both are acknowledged once the stream went back and the replica committed them");
  assert.ok(a.onReplica, "the first write was on the replica's disk when acknowledged");
  assert.ok(b.onReplica);
  await c.stopAll();
});
