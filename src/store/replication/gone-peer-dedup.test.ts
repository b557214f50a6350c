// A peer gone for good comes back: the log entries it missed left the coordinators' logs
// while it was gone, so anti-entropy refills its key states, but the op ids that had already
// folded out of those states live only in the coordinators' dedup tables. A user's retry of
// such a write reaching the returned node must still count once. Simulated network, clock
// and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { metricValue } from "../testkit/sim-end.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const deadPeerAfterS = 5;
const planet = parsePlanet(
  simPlanetYaml.replace(
    "store: { partitions: 8, rf: 3 }",
    `store: { partitions: 8, rf: 3, deadPeerAfterS: ${deadPeerAfterS} }`,
  ),
);

test("a gone peer that returns answers a retry of a write it only got through anti-entropy as a duplicate, after the op id folded out of the key's state", async (t) => {
  const c = new SimCluster({ planet, seed: 61 });
  t.after(() => c.stopAll());
  await c.startAll();
  await c.advance(2_000);

  c.crash("lon-store3");
  const writes: { key: string; opId: string; node: string }[] = [];
  const alive = [...c.nodes.keys()].filter((n) => n !== "lon-store3");
  for (let i = 0; i < 24; i++) {
    const node = alive[i % alive.length];
    const w = { key: `k${i % 8}`, opId: `while-gone-${i}`, node };
    const r = await c.settle(
      c.mutate(node, { key: w.key, mutation: { kind: "incr", by: 1 }, opId: w.opId, consistency: "local-quorum" }),
    );
    assert.ok(r.ok, `write ${w.opId} acknowledged`);
    writes.push(w);
  }
  // lon-store3 counts as gone, the logs are truncated past it, and stability moves on far
  // enough that the ops fold into the counters' bases and their ids leave the states.
  await c.advance(deadPeerAfterS * 1_000 + 20_000);
  const refills = alive.reduce(
    (n, id) => n + metricValue(c.engine(id)!.metricsText(), "redshirt_store_stream_refills_total"),
    0,
  );

  await c.restart("lon-store3");
  await c.advance(30_000);
  const after = alive.reduce(
    (n, id) => n + metricValue(c.engine(id)!.metricsText(), "redshirt_store_stream_refills_total"),
    0,
  );
  assert.ok(after > refills, "streams to lon-store3 skipped entries that had left the logs");
  const catchUps = metricValue(c.engine("lon-store3")!.metricsText(), "redshirt_store_dedup_catch_ups_total");
  assert.ok(catchUps > 0, "lon-store3 pulled the dedup table of a coordinator whose stream skipped entries");
  t.diagnostic(`${catchUps} dedup catch-up pull(s) at lon-store3`);
  const expected = new Map<string, number>();
  for (const w of writes) expected.set(w.key, (expected.get(w.key) ?? 0) + 1);
  for (const [key, n] of expected) assert.equal(await c.counterAt("lon-store3", key), n, `lon-store3 ${key} refilled`);

  for (const w of writes) {
    const r = await c.settle(
      c.mutate("lon-store3", {
        key: w.key,
        mutation: { kind: "incr", by: 1 },
        opId: w.opId,
        consistency: "local-quorum",
      }),
    );
    assert.ok(r.ok, `retry of ${w.opId} answered`);
    assert.equal(r.value.duplicate, true, `the retry of ${w.opId} at lon-store3 counts as a duplicate`);
  }
  await c.advance(5_000);
  for (const id of c.nodes.keys()) {
    for (const [key, n] of expected) assert.equal(await c.counterAt(id, key), n, `${id} ${key}: every write once`);
  }
  assert.equal(c.internalErrors(), 0, "no internal errors");
});

test("a gone peer that returns hands a retry to a replica that holds the history while it still pulls the dedup tables, so a retry at once counts once too", async (t) => {
  const c = new SimCluster({ planet, seed: 67 });
  t.after(() => c.stopAll());
  await c.startAll();
  await c.advance(2_000);
  c.crash("lon-store3");
  const alive = [...c.nodes.keys()].filter((n) => n !== "lon-store3");
  const writes: { key: string; opId: string }[] = [];
  for (let i = 0; i < 16; i++) {
    const w = { key: `k${i % 8}`, opId: `while-gone-${i}` };
    const r = await c.settle(
      c.mutate(alive[i % alive.length], {
        key: w.key,
        mutation: { kind: "incr", by: 1 },
        opId: w.opId,
        consistency: "local-quorum",
      }),
    );
    assert.ok(r.ok, `write ${w.opId} acknowledged`);
    writes.push(w);
  }
  await c.advance(deadPeerAfterS * 1_000 + 20_000);

  // The pages of the dedup tables do not reach lon-store3 until the retries are answered: the
  // retries land while it pulls, as they may on a slow or busy link.
  c.network.holdBack((_from, to, m) => to === "lon-store3" && m[0] === "filldres");
  await c.restart("lon-store3");
  const catchUps = () => metricValue(c.engine("lon-store3")!.metricsText(), "redshirt_store_dedup_catch_ups_total");
  for (let waitedMs = 0; catchUps() === 0 && waitedMs < 30_000; waitedMs += 5) await c.advance(5);
  assert.ok(catchUps() > 0, "lon-store3 began pulling a dedup table");
  // Its links come up one by one: a retry that meets no quorum yet is retried, same op id, as a client does.
  const retry = async (w: { key: string; opId: string }) => {
    for (let attempt = 0; ; attempt++) {
      const r = await c.mutate("lon-store3", {
        key: w.key,
        mutation: { kind: "incr", by: 1 },
        opId: w.opId,
        consistency: "local-quorum",
        timeoutMs: 500,
      });
      if (r.ok || attempt === 20) return r;
      await new Promise<void>((resolve) => c.clock.setTimer(50, resolve));
    }
  };
  const retries = await c.settle(Promise.all(writes.map(retry)));
  c.network.holdBack(undefined);
  for (const [i, r] of retries.entries()) {
    assert.ok(r.ok, `retry of ${writes[i].opId} answered: ${!r.ok && r.error.message}`);
    assert.equal(
      r.value.duplicate,
      true,
      `the retry of ${writes[i].opId} right after the return counts as a duplicate`,
    );
  }
  await c.advance(30_000);
  const expected = new Map<string, number>();
  for (const w of writes) expected.set(w.key, (expected.get(w.key) ?? 0) + 1);
  for (const id of c.nodes.keys()) {
    for (const [key, n] of expected) assert.equal(await c.counterAt(id, key), n, `${id} ${key}: every write once`);
  }
  assert.equal(c.internalErrors(), 0, "no internal errors");
});
