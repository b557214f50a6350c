// The store node's skewable wall clock (chaos): the offset moves nowMs only, reverts itself
// at its TTL in the node, offset 0 clears it early, and a bad request names its field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError, ManualClock } from "../../core/index.ts";
import { HybridClock, hlcWallMs } from "../crdt/hlc.ts";
import { clockSkewMsMax, parseClockSkew, SkewedClock } from "./clock-skew.ts";

test("clock skew - the offset moves the wall clock (and the HLC's stamps) until its TTL, then reverts by itself", () => {
  const base = new ManualClock(1_700_000_000_000);
  const changes: number[] = [];
  const clock = new SkewedClock(base, (v) => changes.push(v.offsetMs));
  const hlc = new HybridClock(clock);
  clock.skew({ offsetMs: 30_000, ttlMs: 5_000, faultId: "f1" });
  assert.equal(clock.nowMs(), base.nowMs() + 30_000);
  assert.equal(clock.monoMs(), base.monoMs(), "monotonic time is the base clock's");
  assert.equal(hlcWallMs(hlc.now()), base.nowMs() + 30_000, "stamps are ahead");
  assert.deepEqual(clock.view(), { offsetMs: 30_000, faultId: "f1", ttlMs: 5_000, expiresInMs: 5_000 });
  base.advance(5_000);
  assert.equal(clock.nowMs(), base.nowMs());
  assert.equal(clock.view().faultId, null);
  assert.deepEqual(changes, [30_000, 0]);
  clock.skew({ offsetMs: -2_000, ttlMs: 60_000, faultId: "f2" });
  clock.skew({ offsetMs: 0, ttlMs: 0, faultId: "f2" });
  base.advance(60_000);
  assert.equal(clock.nowMs(), base.nowMs(), "cleared early; the old timer changes nothing");
});

test("clock skew - a bad request names its field", () => {
  const bad = (body: string, field: RegExp) =>
    assert.throws(
      () => parseClockSkew(body),
      (e) => isRedshirtError(e, "RS_ERR_STORE_BAD_REQUEST") && field.test(e.message),
      body,
    );
  bad("nope", /body: not JSON/);
  bad(JSON.stringify({ offsetMs: clockSkewMsMax + 1, ttlMs: 1, faultId: "f" }), /offsetMs:/);
  bad(JSON.stringify({ offsetMs: 1, ttlMs: -1, faultId: "f" }), /ttlMs:/);
  bad(JSON.stringify({ offsetMs: 1, ttlMs: 1, faultId: "a b" }), /faultId:/);
  assert.deepEqual(parseClockSkew(JSON.stringify({ offsetMs: -5, ttlMs: 10, faultId: "f" })), {
    offsetMs: -5,
    ttlMs: 10,
    faultId: "f",
  });
});
