// The report's timeline: ops counted in the bucket where they ended, per serving site, the
// errors users saw and the retries clients sent, each region's latency quantiles per bucket,
// faults as bands relative to the run's start, and wider buckets for a long run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { arraySource } from "./checker.ts";
import { latencyBinRatio, timelineBucketsMax } from "./constants.ts";
import type { HistoryRecord } from "./history.ts";
import { fileSource } from "./reader.ts";
import { HistoryBuilder } from "./testkit/index.ts";
import { buildTimeline, type Timeline } from "./timeline.ts";

const fixture = fileURLToPath(new URL("./fixtures/history-v1.jsonl", import.meta.url));
const near = (actual: number | null, expected: number) =>
  assert.ok(
    actual !== null && actual >= expected && actual <= expected * latencyBinRatio,
    `${actual} is not within ${latencyBinRatio} of ${expected}`,
  );

/** Back from rates to counts: every bucket lasted bucketS but the last. */
const total = (tl: Timeline, perS: readonly number[]) =>
  Math.round(perS.reduce((sum, r, i) => sum + r * (i === perS.length - 1 ? tl.lastBucketS : tl.bucketS), 0) * 1e6) /
  1e6;

test("timeline - each op counts per second in the bucket where it ended, at the site that answered it", async () => {
  const b = new HistoryBuilder().user("a", "nr").user("b", "sr");
  b.op({ kind: "page", user: "a", startMs: 0, durationMs: 100 });
  b.op({ kind: "page", user: "a", startMs: 200, durationMs: 100 });
  b.op({ kind: "page", user: "b", startMs: 500, durationMs: 700 }); // ends at 1.2 s
  b.op({
    kind: "cart.read",
    user: "a",
    startMs: 1500,
    durationMs: 50,
    attempts: 3,
    served: { site: "south", instance: "south-app-1" },
  });
  b.op({
    kind: "page",
    user: "b",
    startMs: 2100,
    durationMs: 10,
    attempts: 2,
    outcome: { result: "error", status: 503, message: "no healthy upstream" },
  });
  b.at(3_000); // the run ends at 3 s: three whole buckets
  const tl = await buildTimeline(arraySource(b.build()));
  assert.equal(tl.originMs, 0);
  assert.deepEqual([tl.bucketS, tl.lastBucketS], [1, 1]);
  assert.deepEqual(tl.t, [0, 1, 2]);
  assert.deepEqual(tl.sites, ["north", "south"]);
  assert.deepEqual(tl.servedPerS, { north: [2, 0, 0], south: [0, 2, 0] });
  assert.deepEqual(tl.errorsPerS, [0, 0, 1], "the error counts where users saw it, not where it was served");
  assert.deepEqual(tl.retriesPerS, [0, 2, 1]);
  assert.deepEqual(tl.regions, ["nr", "sr"]);
  near(tl.p50Ms.nr[0], 100);
  near(tl.p50Ms.sr[1], 700);
  assert.equal(tl.p50Ms.sr[0], null, "no op of the region ended in the first second");
  assert.equal(tl.faults.length, 0);
});

test("timeline - a region's p50 and p99 per bucket are within a bin of the exact quantiles", async () => {
  const b = new HistoryBuilder();
  for (let i = 1; i <= 100; i++) b.op({ kind: "page", user: `u${i}`, region: "nr", startMs: 2_000, durationMs: i });
  b.op({ kind: "page", user: "first", region: "sr", startMs: 0, durationMs: 5 });
  const tl = await buildTimeline(arraySource(b.build()));
  assert.equal(tl.t.length, 3, "0 s to 2.1 s");
  assert.equal(Math.round(tl.lastBucketS * 1000), 100, "the last bucket lasted until the last op ended");
  near(tl.p50Ms.nr[2], 50);
  near(tl.p99Ms.nr[2], 99);
  assert.deepEqual([tl.p50Ms.nr[0], tl.p50Ms.nr[1]], [null, null]);
  near(tl.p99Ms.sr[0], 5);
});

test("timeline - faults are bands from their start to their end (fault-end, endMs or the TTL) since the run began", async () => {
  const b = new HistoryBuilder().at(1_000);
  b.op({ kind: "page", user: "a" });
  b.fault({ id: "f1", kind: "kill-site", target: { site: "north" }, startMs: 1_500, ttlMs: 10_000 });
  b.fault({
    id: "f2",
    kind: "partition",
    target: { site: "north", peer: "south" },
    startMs: 2_000,
    ttlMs: 300,
    detail: "drop",
  });
  b.fault({
    id: "f3",
    kind: "kill-instance",
    target: { site: "south", tier: "app", instance: "south-app-2" },
    startMs: 1_800,
    ttlMs: 0,
    endMs: 1_900,
  });
  b.fault({ id: "f4", kind: "kill-tier", target: { site: "south", tier: "dns" }, startMs: 2_500, ttlMs: 500 });
  b.at(4_000).op({ kind: "page", user: "a" });
  const records: HistoryRecord[] = b.build();
  records.splice(-1, 0, { type: "fault-end", id: "f1", endMs: 3_250, reason: "healed" });
  const tl = await buildTimeline(arraySource(records));
  assert.equal(tl.originMs, 1_000);
  assert.deepEqual(tl.faults, [
    { id: "f1", kind: "kill-site", target: "north", startS: 0.5, endS: 2.25 },
    { id: "f3", kind: "kill-instance", target: "south/south-app-2", startS: 0.8, endS: 0.9 },
    { id: "f2", kind: "partition", target: "north↔south", startS: 1, endS: 1.3, detail: "drop" },
    { id: "f4", kind: "kill-tier", target: "south/dns", startS: 1.5, endS: 2 },
  ]);
});

test("timeline - a long run gets wider buckets, never more than the maximum", async () => {
  const b = new HistoryBuilder();
  b.op({ kind: "page", user: "a", startMs: 0 });
  b.op({ kind: "page", user: "a", startMs: 4_000_000 }); // 66 min later
  const tl = await buildTimeline(arraySource(b.build()));
  assert.equal(tl.bucketS, 3);
  assert.ok(tl.t.length <= timelineBucketsMax, `${tl.t.length} buckets`);
  assert.equal(total(tl, tl.servedPerS.north), 2, "both ops counted");
});

test("timeline - the version 1 fixture: its site loss, the errors and the sites that served", async () => {
  const tl = await buildTimeline(fileSource(fixture));
  assert.equal(tl.originMs, 10.5);
  assert.deepEqual(tl.sites, ["lon", "nyc"]);
  assert.deepEqual(
    tl.faults.map((f) => [f.id, f.kind, f.target]),
    [["f1", "kill-site", "lon"]],
  );
  assert.equal(tl.faults[0].endS, 1.49, "its fault-end at 1,500 ms, to the millisecond");
  assert.equal(total(tl, tl.errorsPerS), 2, "one error and one unknown outcome");
  assert.ok(total(tl, tl.servedPerS.nyc) >= 4, "nyc answered for lon's users after the loss");
});
