// The HLC lease: what a node advertises never passes what it persisted, so after a restart
// (even with its wall clock set back) it stamps above everything it promised; the tick alone
// renews the lease; a peer whose clock runs ahead is followed only within the drift limit,
// and counted.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, ManualClock, Registry } from "../../core/index.ts";
import { parsePlanet } from "../../topology/index.ts";
import { hlcLeaseMs, hlcLeaseStepMs, hlcMaxDriftMs } from "../constants.ts";
import { HybridClock, hlcFromWallMs, hlcWallMs } from "../crdt/hlc.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";
import { hlcLeaseMetaName, renewLease, savedHlc, startLease } from "./hlc-lease.ts";
import { createNodeMetrics } from "./node-metrics.ts";

const quiet = createLogger({}, { write: () => {} });

function leased(storage: MemoryStorage, clock: ManualClock) {
  const m = createNodeMetrics(new Registry());
  const hlc = new HybridClock(clock, savedHlc(storage));
  const d = { storage, clock, hlc, m, log: quiet };
  startLease(d);
  return d;
}

test("hlc lease - a node restarted with its wall clock set back stamps above everything it advertised while idle", () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock(1_700_000_000_000);
  const d = leased(storage, clock);
  let advertised = d.hlc.now(); // one write's stamp; then only heartbeats
  for (let i = 0; i < 200; i++) {
    clock.advance(50);
    renewLease(d);
    advertised = Math.max(advertised, d.hlc.now()); // what a heartbeat would carry
    assert.ok(d.hlc.last <= d.hlc.ceiling, "never past the ceiling");
    assert.ok(Number(storage.meta(hlcLeaseMetaName)) >= d.hlc.ceiling, "the ceiling is persisted");
  }
  // No data commit wrote the "hlc" mark in those 10 s: only the lease remembers.
  assert.equal(storage.meta("hlc"), undefined);
  // Restart with the wall clock 30 s behind (an NTP step, another machine).
  const back = new ManualClock(clock.nowMs() - 30_000);
  const again = leased(storage.reopen(), back);
  const first = again.hlc.now();
  assert.ok(first > advertised, `first stamp ${first} above the advertised ${advertised}`);
  assert.ok(hlcWallMs(first) - hlcWallMs(advertised) <= hlcLeaseMs + 1, "at most a lease ahead");
});

test("hlc lease - a stamp that would pass the ceiling extends it first; a failed extension fails the stamp", () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock(1_700_000_000_000);
  const d = leased(storage, clock);
  // A burst of stamps in one millisecond carries past the lease (bounded: a lease and a bit of stamps).
  const first = d.hlc.ceiling;
  let h = 0;
  for (let i = 0; i <= hlcFromWallMs(hlcLeaseMs + 1) && h <= first; i++) h = d.hlc.now();
  assert.ok(h > first, "the burst passed the first ceiling");
  assert.ok(Number(storage.meta(hlcLeaseMetaName)) >= h, "extended and persisted before the stamp was handed out");
  storage.failNextCommits(100);
  const ceiling = d.hlc.ceiling;
  assert.throws(() => {
    for (let i = 0; i <= hlcFromWallMs(hlcLeaseMs + 1); i++) d.hlc.now();
  }, /I\/O error/);
  assert.ok(d.hlc.last <= ceiling, "no stamp beyond the persisted ceiling");
});

test("hlc lease - a peer whose clock runs ahead drags us at most to the drift limit, and is counted", () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock(1_700_000_000_000);
  const d = leased(storage, clock);
  const nowH = hlcFromWallMs(clock.nowMs());
  d.hlc.observe(nowH + hlcFromWallMs(30_000));
  assert.equal(d.hlc.ahead, 1, "taken, and counted as ahead");
  assert.ok(Number(storage.meta(hlcLeaseMetaName)) >= d.hlc.last, "the lease covers the remote stamp");
  d.hlc.observe(nowH + hlcFromWallMs(hlcMaxDriftMs + 1_000));
  assert.equal(d.hlc.rejected, 1, "beyond the drift limit: ignored and counted");
  assert.ok(hlcWallMs(d.hlc.last) <= clock.nowMs() + hlcMaxDriftMs);
});

test("hlc lease - in a running planet the tick alone renews the lease of an idle node, and a restart stamps above it", async () => {
  const c = new SimCluster({ planet: parsePlanet(simPlanetYaml), seed: 61 });
  await c.startAll();
  await c.advance(10_000);
  const lease = Number(c.nodes.get("nyc-store1")!.storage.meta(hlcLeaseMetaName));
  assert.ok(hlcWallMs(lease) > c.clock.nowMs(), "renewed ahead of the wall clock while idle");
  assert.match(c.engine("nyc-store1")!.metricsText(), /redshirt_store_hlc_lease_commits_total\{why="renew"\} [1-9]/);
  c.crash("nyc-store1");
  await c.restart("nyc-store1");
  const w = await c.settle(
    c.mutate("nyc-store1", { key: "after", mutation: { kind: "incr", by: 1 }, opId: "a1", consistency: "local-one" }),
  );
  assert.ok(w.ok, String(!w.ok && w.error.message));
  assert.ok((w.value.token["nyc-store1"] ?? 0) > lease, "the first stamp after the restart is above the old lease");
  await c.stopAll();
});

test("hlc lease - restarts do not ratchet the HLC ahead: two nodes restarted in turn, each following the other's stamps, stay within a lease and two steps of the wall clock", () => {
  const clock = new ManualClock(1_700_000_000_000);
  let sa = new MemoryStorage();
  let sb = new MemoryStorage();
  let da = leased(sa, clock);
  let db = leased(sb, clock);
  for (let i = 0; i < 40; i++) {
    // Each restarts in turn 300 ms apart (a crash loop, or a rolling deploy), after taking
    // the other's stamps (a heartbeat) and renewing from the tick.
    clock.advance(300);
    db.hlc.observe(da.hlc.now());
    renewLease(db);
    sa = sa.reopen();
    da = leased(sa, clock);
    clock.advance(300);
    da.hlc.observe(db.hlc.now());
    renewLease(da);
    sb = sb.reopen();
    db = leased(sb, clock);
    const aheadMs = Math.max(hlcWallMs(da.hlc.now()), hlcWallMs(db.hlc.now())) - clock.nowMs();
    assert.ok(aheadMs <= hlcLeaseMs + 2 * hlcLeaseStepMs, `after ${i + 1} rounds the HLC runs ${aheadMs} ms ahead`);
  }
});
