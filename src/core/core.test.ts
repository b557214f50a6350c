import assert from "node:assert/strict";
import { test } from "node:test";
import { defineErrors, isRedshirtError, ManualClock, Registry, seededRandom } from "./index.ts";

test("core - a seeded random replays the same sequence and differs between seeds", () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const c = seededRandom(43);
  const seqA = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(
    seqA,
    Array.from({ length: 5 }, () => b.next()),
  );
  assert.notDeepEqual(
    seqA,
    Array.from({ length: 5 }, () => c.next()),
  );
  for (let i = 0; i < 1000; i++) {
    const n = a.int(7);
    assert.ok(Number.isInteger(n) && n >= 0 && n < 7);
  }
});

test("core - the manual clock fires timers in time order and only when advanced", () => {
  const clock = new ManualClock(1000);
  const fired: string[] = [];
  clock.setTimer(50, () => fired.push("b"));
  clock.setTimer(10, () => {
    fired.push("a");
    clock.setTimer(10, () => fired.push("a2"));
  });
  const c = clock.setTimer(30, () => fired.push("cancelled"));
  c.cancel();
  assert.deepEqual(fired, []);
  clock.advance(25);
  assert.deepEqual(fired, ["a", "a2"]);
  assert.equal(clock.nowMs(), 1025);
  clock.advance(100);
  assert.deepEqual(fired, ["a", "a2", "b"]);
});

test("core - errors carry their code, status, and a message with what to do", () => {
  const errs = defineErrors("testonly", { RS_ERR_TESTONLY_X: { status: 409, message: "It broke; do the thing" } });
  const e = errs.create("RS_ERR_TESTONLY_X", "key k", { cause: new Error("inner") });
  assert.ok(isRedshirtError(e, "RS_ERR_TESTONLY_X"));
  assert.equal(e.status, 409);
  assert.equal(e.message, "It broke; do the thing: key k");
  assert.deepEqual(e.toJSON(), { error: { code: "RS_ERR_TESTONLY_X", message: "It broke; do the thing: key k" } });
  assert.throws(() => defineErrors("abc", { RS_ERR_OTHER_Y: { status: 400, message: "x" } }), /must start with/);
});

test("core - metrics render in Prometheus text format", () => {
  const r = new Registry();
  const c = r.counter("rs_ops_total", "Operations.");
  c.inc({ op: "put" });
  c.inc({ op: "put" }, 2);
  const h = r.histogram("rs_latency_ms", "Latency.", [1, 10]);
  h.observe(5, { op: "get" });
  const text = r.render();
  assert.match(text, /rs_ops_total\{op="put"\} 3/);
  assert.match(text, /rs_latency_ms_bucket\{op="get",le="1"\} 0/);
  assert.match(text, /rs_latency_ms_bucket\{op="get",le="10"\} 1/);
  assert.match(text, /rs_latency_ms_count\{op="get"\} 1/);
});
