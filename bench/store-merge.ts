// Micro-benchmark of what a replica does with a hot counter's state while the stability
// point stands still (issue 11's "wedge": nothing folds, so every op id stays in the state).
// A counter written `ops` times by three coordinators, every op still live, is met again and
// again by the engine:
//  - a state or delta it already holds (a stream resent from its cursor, a retried op's state
//    spread again, read repair, anti-entropy and refill pages): the merge, its digest and the
//    representation check ran on the whole state; now `contains` walks the incoming state only;
//  - the sweeper's compaction at the same stability point: copy, normalize, digest and compare
//    the whole state each time it comes round; now skipped once it changed nothing there;
//  - a delta with one new op (not contained: merged as before, for comparison).
// The merge itself is today's (it got cheaper too: compare with the code before for that).
//   node bench/store-merge.ts [ops] [seconds-per-case]
import { applyMutation, compact, contains, digest, hlcFromWallMs, type KeyState, merge } from "../src/store/index.ts";

const ops = Number(process.argv[2] ?? 8_000);
const secondsPerCase = Number(process.argv[3] ?? 1);
const t0 = hlcFromWallMs(Date.now());

let state: KeyState | undefined;
const deltas: KeyState[] = [];
for (let i = 0; i < ops; i++) {
  const applied = applyMutation(
    state,
    { kind: "incr", by: 1 },
    { opId: `c${i % 3}-op-${i}`, h: t0 + i * 8, nowMs: Date.now() },
  );
  state = applied.state;
  deltas.push(applied.delta);
}
const big = state as KeyState;
const stable = t0 - 1; // below every op: nothing folds
const fresh = applyMutation(big, { kind: "incr", by: 1 }, { opId: "new-op", h: t0 + ops * 8, nowMs: Date.now() }).delta;

function rate(name: string, work: () => unknown): number {
  const until = performance.now() + secondsPerCase * 1_000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < until) {
    for (let i = 0; i < 16; i++) work();
    n += 16;
  }
  const usEach = ((performance.now() - start) * 1_000) / n;
  console.log(`${name.padEnd(58)} ${usEach.toFixed(2).padStart(10)} µs each`);
  return usEach;
}

console.log(`hot counter: ${ops} live ops, stability below all of them`);
let d = 0;
const resentOld = rate("resent delta: merge + digest (what contains saves)", () => {
  const m = merge(big, deltas[d++ % deltas.length]);
  return m && digest(m);
});
const resentNew = rate("resent delta: contains", () => contains(big, deltas[d++ % deltas.length]));
const wholeOld = rate("whole state again: merge + digest (what contains saves)", () => {
  const m = merge(big, big);
  return m && digest(m);
});
const wholeNew = rate("whole state again: contains", () => contains(big, big));
const sweepOld = rate("compaction at an unchanged point (what settled.ts saves)", () => {
  const c = compact(big, stable, t0 + ops * 32);
  return c && digest(c);
});
rate("new op delta: contains + merge + digest", () => {
  if (contains(big, fresh)) return 0;
  const m = merge(big, fresh);
  return m && digest(m);
});
console.log(
  `resent delta ${(resentOld / resentNew).toFixed(0)}× cheaper, whole state ${(wholeOld / wholeNew).toFixed(1)}× cheaper; ` +
    `the sweeper skips ${sweepOld.toFixed(0)} µs per key it meets again (and the representation check, not timed here)`,
);
