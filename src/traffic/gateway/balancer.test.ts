import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../../core/index.ts";
import { Balancer, type BalancerEvent, Target } from "./balancer.ts";
import { ejectAfterFailures, ejectionForgetMs, panicShareDefault } from "./constants.ts";
import { Pool } from "./pool.ts";

function setup(n: number, options: { slowStartMs?: number; seed?: number; panicShare?: number } = {}) {
  const clock = new ManualClock();
  const events: BalancerEvent[] = [];
  const b = new Balancer({
    clock,
    random: seededRandom(options.seed ?? 1),
    slowStartMs: options.slowStartMs ?? 0,
    panicShare: options.panicShare,
    ejectBaseMs: 1000,
    ejectMaxMs: 8000,
    onEvent: (e) => events.push(e),
  });
  const targets = Array.from({ length: n }, (_, i) => {
    const t = new Target({ id: `t${i}`, site: "s", host: `127.0.0.${i + 1}`, port: 1, kind: "instance" }, new Pool());
    b.add(t);
    b.recordCheck(t, true);
    return t;
  });
  return { clock, b, targets, events };
}

function counts(b: Balancer, picks: number, onPick?: (id: string) => void): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const t = b.pick();
    assert.ok(t);
    m.set(t.id, (m.get(t.id) ?? 0) + 1);
    onPick?.(t.id);
  }
  return m;
}

test("balancer - power of two choices prefers the target with fewer outstanding requests", () => {
  const { b, targets } = setup(3);
  targets[0].outstanding = 50;
  const m = counts(b, 3000);
  // t0 is always compared with a less loaded target, so it never wins.
  assert.equal(m.get("t0") ?? 0, 0);
  assert.ok(Math.abs((m.get("t1") ?? 0) - (m.get("t2") ?? 0)) < 300, JSON.stringify([...m]));
  targets[0].outstanding = 0;
  const even = counts(b, 3000);
  for (const t of targets) assert.ok((even.get(t.id) ?? 0) > 800, JSON.stringify([...even]));
});

test("balancer - unhealthy, ejected, draining, removed and excluded targets get nothing", () => {
  const { b, targets, clock } = setup(5);
  b.recordCheck(targets[0], false);
  b.recordCheck(targets[0], false);
  b.recordFailure(targets[1], "connect-refused");
  targets[2].draining = true;
  b.remove(targets[3]);
  const m = counts(b, 200);
  assert.deepEqual([...m.keys()], ["t4"]);
  assert.equal(b.pick([targets[4]]), undefined);
  clock.advance(1001);
  assert.ok(counts(b, 200).has("t1"), "an ejection ends after its time");
});

test("balancer - a refused connect ejects at once, resets only after a run, and back-off doubles", () => {
  const { b, targets, clock, events } = setup(2);
  const [t] = targets;
  for (let i = 1; i < ejectAfterFailures; i++) assert.equal(b.recordFailure(t, "reset"), false);
  b.recordSuccess(t);
  for (let i = 1; i < ejectAfterFailures; i++) assert.equal(b.recordFailure(t, "reset"), false);
  assert.equal(b.recordFailure(t, "reset"), true);
  assert.equal(t.ejectedUntilMs - clock.monoMs(), 1000);
  clock.advance(1000);
  assert.equal(b.recordFailure(t, "connect-refused"), true);
  assert.equal(t.ejectedUntilMs - clock.monoMs(), 2000);
  clock.advance(2000);
  assert.equal(b.recordFailure(t, "connect-refused"), true);
  assert.equal(t.ejectedUntilMs - clock.monoMs(), 4000);
  clock.advance(4000);
  b.recordFailure(t, "connect-refused");
  clock.advance(8000);
  b.recordFailure(t, "connect-refused");
  assert.equal(t.ejectedUntilMs - clock.monoMs(), 8000, "capped at ejectMaxMs");
  clock.advance(ejectionForgetMs + 1);
  b.recordFailure(t, "connect-refused");
  assert.equal(t.ejectedUntilMs - clock.monoMs(), 1000, "back-off forgotten after a quiet period");
  assert.equal(events.filter((e) => e.type === "ejected").length, 6);
});

test("balancer - health checks apply rise and fall; the first answer sets the state at once", () => {
  const { b, targets } = setup(1);
  const [t] = targets;
  assert.equal(t.healthy, true);
  b.recordCheck(t, false);
  assert.equal(t.healthy, true, "one failure is not a fall");
  b.recordCheck(t, false);
  assert.equal(t.healthy, false);
  b.recordCheck(t, true);
  assert.equal(t.healthy, false, "one success is not a rise");
  b.recordCheck(t, true);
  assert.equal(t.healthy, true);
  const fresh = new Target({ id: "n", site: "s", host: "h", port: 1, kind: "instance" }, new Pool());
  b.add(fresh);
  assert.equal(fresh.healthy, false, "unknown is not healthy");
  b.recordCheck(fresh, false);
  assert.equal(fresh.unknown, false);
  assert.equal(fresh.healthy, false);
});

test("balancer - slow start ramps a returning target's share up over the window", () => {
  const { b, targets, clock } = setup(2, { slowStartMs: 1000, seed: 7 });
  const [t0] = targets;
  b.recordCheck(t0, false);
  b.recordCheck(t0, false);
  b.recordCheck(t0, true);
  b.recordCheck(t0, true);
  assert.equal(t0.healthy, true);
  assert.ok(Math.abs(b.weight(t0, clock.monoMs()) - 0.1) < 1e-9);
  const early = counts(b, 2000).get("t0") ?? 0;
  clock.advance(500);
  const mid = counts(b, 2000).get("t0") ?? 0;
  clock.advance(600);
  const late = counts(b, 2000).get("t0") ?? 0;
  assert.ok(early < mid && mid < late, `${early} < ${mid} < ${late}`);
  assert.ok(early < 300, `early share ${early}`);
  assert.ok(late > 800, `full share ${late}`);
});

test("balancer - the same seed makes the same picks", () => {
  const a = setup(4, { seed: 99 });
  const b = setup(4, { seed: 99 });
  const seqA: string[] = [];
  const seqB: string[] = [];
  counts(a.b, 100, (id) => seqA.push(id));
  counts(b.b, 100, (id) => seqB.push(id));
  assert.deepEqual(seqA, seqB);
});

/** Ejects a target the uncertain way: a run of resets. */
function ejectByResets(b: Balancer, t: Target): void {
  for (let i = 0; i < ejectAfterFailures; i++) b.recordFailure(t, "reset");
}

test("balancer - a starting target is checked but never picked", () => {
  const { b, targets } = setup(2);
  targets[0].starting = true;
  assert.deepEqual([...counts(b, 100).keys()], ["t1"]);
  assert.equal(b.liveCount(), 1, "a starting target is not capacity yet");
});

test("balancer - panic: when more than the share of live targets is ejected, ejection is ignored", () => {
  const { b, targets, events } = setup(4, { panicShare: 0.5 });
  ejectByResets(b, targets[0]);
  ejectByResets(b, targets[1]);
  // 2 of 4 ejected is not more than half: no panic, the two others take everything.
  assert.equal(b.panic(), false);
  assert.deepEqual([...counts(b, 200).keys()].sort(), ["t2", "t3"]);
  ejectByResets(b, targets[2]);
  // 3 of 4: panic, every live target takes traffic again.
  assert.equal(b.panic(), true);
  assert.equal(b.healthyCount(), 4);
  assert.equal(counts(b, 400).size, 4);
  assert.equal(b.liveCount(), 4, "ejected targets are still alive");
  assert.deepEqual(
    events.filter((e) => e.type === "panic").map((e) => (e.type === "panic" ? [e.on, e.live, e.ejected] : [])),
    [[true, 4, 3]],
  );
  assert.equal(b.panics, 1);
});

test("balancer - panic ends when ejections expire, and certain ejections never count toward it", () => {
  const { b, targets, clock, events } = setup(3, { panicShare: 0.5 });
  ejectByResets(b, targets[0]);
  ejectByResets(b, targets[1]);
  assert.equal(b.panic(), true);
  clock.advance(1_001);
  assert.equal(b.panic(), false, "the 1 s ejections are over");
  assert.equal(events.filter((e) => e.type === "panic").length, 2);
  // Nothing listens on two of them: certain, so they stay out and there is no panic.
  b.recordFailure(targets[0], "connect-refused");
  b.recordFailure(targets[1], "connect-refused");
  assert.equal(b.panic(), false);
  assert.deepEqual([...counts(b, 100).keys()], ["t2"]);
  // An uncertain ejection that turns out certain (refused while panic sent to it) stays out too.
  clock.advance(60_000);
  const { b: b2, targets: t2 } = setup(2, { panicShare: 0.5 });
  ejectByResets(b2, t2[0]);
  assert.equal(b2.panic(), false, "1 of 2 is not more than half");
  ejectByResets(b2, t2[1]);
  assert.equal(b2.panic(), true);
  b2.recordFailure(t2[0], "connect-refused");
  assert.equal(t2[0].ejectedCertain, true);
  assert.deepEqual([...counts(b2, 100).keys()], ["t1"], "panic now sends only to the one that may be alive");
});

test("balancer - without a panic share, ejection empties the balancer", () => {
  const { b, targets } = setup(2);
  ejectByResets(b, targets[0]);
  ejectByResets(b, targets[1]);
  assert.equal(b.panic(), false);
  assert.equal(b.pick(), undefined);
  assert.equal(b.liveCount(), 2);
});

test("balancer - at most a third of a site's instances may be ejected (the default share); past that, panic routes to all", () => {
  for (const [n, allowed] of [
    [3, 1],
    [6, 2],
    [64, 21],
  ] as const) {
    const { b, targets } = setup(n, { panicShare: panicShareDefault });
    for (let i = 0; i < allowed; i++) ejectByResets(b, targets[i]);
    assert.equal(b.panic(), false, `${allowed} of ${n} ejected`);
    assert.equal(b.healthyCount(), n - allowed);
    ejectByResets(b, targets[allowed]);
    assert.equal(b.panic(), true, `${allowed + 1} of ${n} ejected`);
    assert.equal(b.healthyCount(), n, "panic: every live instance takes traffic");
  }
});

test("balancer - per-try timeouts never eject (slowness is load, not a dead instance); connect timeouts do", () => {
  const { b, targets } = setup(2);
  for (let i = 0; i < ejectAfterFailures * 5; i++) assert.equal(b.recordFailure(targets[0], "timeout"), false);
  assert.equal(b.healthyCount(), 2);
  for (let i = 0; i < ejectAfterFailures - 1; i++) b.recordFailure(targets[0], "connect-timeout");
  assert.equal(b.recordFailure(targets[0], "connect-timeout"), true);
});

test("balancer - a saturated target is out of picks but offers its queue; busy says the site is full, not gone", () => {
  const { b, targets } = setup(2);
  for (const t of targets) t.outstanding = b.requestsMax;
  assert.equal(b.pick(), undefined);
  const out = { busy: false };
  const q = b.pickQueue(1, undefined, out);
  assert.ok(q !== undefined && out.busy);
  q.queue.push({ queuedAtMs: 0, resume: () => {} });
  const q2 = b.pickQueue(1, undefined, out);
  assert.ok(q2 !== undefined && q2 !== q, "the shorter queue");
  q2.queue.push({ queuedAtMs: 0, resume: () => {} });
  assert.equal(b.pickQueue(1, undefined, out), undefined);
  assert.equal(out.busy, true, "every queue full: answer 503, do not fail over");
  assert.equal(b.liveCount(), 2, "saturated targets are alive: healthz stays 200");
});
