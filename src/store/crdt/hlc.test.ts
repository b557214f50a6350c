import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../core/index.ts";
import { hlcMaxDriftMs } from "../constants.ts";
import { HybridClock, hlcFromWallMs, hlcWallMs } from "./hlc.ts";

test("hlc - wall milliseconds and stamps convert both ways", () => {
  assert.equal(hlcFromWallMs(1_700_000_000_000), 1_700_000_000_000 * 1024);
  assert.equal(hlcWallMs(hlcFromWallMs(1_700_000_000_123) + 1023), 1_700_000_000_123);
  assert.equal(hlcWallMs(hlcFromWallMs(5) - 1), 4);
});

test("hlc - stamps strictly increase, carry into the wall part, and never fall behind the wall clock", () => {
  const clock = new ManualClock(1_000);
  const hlc = new HybridClock(clock);
  let prev = 0;
  for (let i = 0; i < 3000; i++) {
    const h = hlc.now();
    assert.ok(h > prev, "strictly increasing");
    prev = h;
  }
  assert.equal(hlcWallMs(prev), 1_002, "1024 stamps per ms: 3000 stamps in one ms carry into the next two");
  clock.advance(10);
  assert.equal(hlc.now(), hlcFromWallMs(1_010), "the wall clock moved ahead, so the stamp follows it");
  const backwards = new ManualClock(500);
  const hlc2 = new HybridClock(backwards, hlcFromWallMs(2_000));
  assert.equal(hlc2.now(), hlcFromWallMs(2_000) + 1, "a restarted node resumes after its persisted high-water mark");
});

test("hlc - observe makes later stamps follow a remote one, but ignores one too far ahead", () => {
  const clock = new ManualClock(10_000);
  const hlc = new HybridClock(clock);
  const remote = hlcFromWallMs(10_000 + 5_000) + 7;
  hlc.observe(remote);
  assert.equal(hlc.last, remote);
  assert.equal(hlc.now(), remote + 1);
  hlc.observe(remote - 100);
  assert.equal(hlc.last, remote + 1, "an older stamp changes nothing");
  hlc.observe(hlcFromWallMs(10_000 + hlcMaxDriftMs) + 1024);
  hlc.observe(-1);
  hlc.observe(1.5);
  assert.equal(hlc.rejected, 3);
  assert.equal(hlc.last, remote + 1, "a stamp beyond the drift limit is ignored");
  hlc.observe(hlcFromWallMs(10_000 + hlcMaxDriftMs));
  assert.equal(hlc.last, hlcFromWallMs(10_000 + hlcMaxDriftMs), "a stamp at the limit is taken");
});
