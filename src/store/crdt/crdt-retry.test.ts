// Retries of set adds, and the folding of an element's adds that replaced "one live op per
// element". An add used to also remove the adds of its element that its coordinator
// observed; a retry of an add R at a node that never saw R's first attempt was applied again
// there (not a duplicate: that node cannot know R), with that node's observations: it took
// away a later add A of the same element, while R itself stayed dead (a remove had observed
// its first attempt). Applying R twice did more than applying it once. Now an add removes
// nothing, and compaction folds an element's settled adds into one (crdt-compact.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMutation, compact, digest, encodeState, type KeyState, type Mutation, merge, read } from "./crdt.ts";

const nowMs = 1_700_000_000_000;
const h = (ms: number) => (nowMs + ms) * 1024;
const add: Mutation = { kind: "sadd", members: ["d"] };
const remove: Mutation = { kind: "srem", members: ["d"] };

function at(state: KeyState | undefined, m: Mutation, opId: string, ms: number) {
  return applyMutation(state, m, { opId, h: h(ms), nowMs: nowMs + ms });
}

function mergeAll(states: readonly (KeyState | undefined)[]): KeyState | undefined {
  return states.reduce<KeyState | undefined>((acc, s) => merge(acc, s), undefined);
}

function permutations<T>(xs: readonly T[]): T[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

function liveAdds(s: KeyState | undefined): [string, number][] {
  return Object.entries(s?.ops ?? {})
    .map(([id, op]): [string, number] => [id, op.h])
    .sort();
}

/** Merges many states pairwise, so that thousands of deltas take n log n. */
function mergeTree(states: readonly (KeyState | undefined)[]): KeyState | undefined {
  if (states.length <= 1) return merge(states[0], undefined);
  const mid = states.length >> 1;
  return merge(mergeTree(states.slice(0, mid)), mergeTree(states.slice(mid)));
}

function members(s: KeyState | undefined, ms = 100): unknown {
  const r = read(s, nowMs + ms);
  return r.exists ? r.value : [];
}

// R at 10, S (a remove that saw R) at 20, A (acknowledged after S) at 30.
const r = at(undefined, add, "R", 10);
const s = at(r.state, remove, "S", 20);
const a = at(s.state, add, "A", 30);

test("crdt - a retry of an add that a remove took away does not take away a later add of the same element", () => {
  // A node that has A but never saw R or S takes the client's retry of R.
  const retry = at(merge(undefined, a.delta), add, "R", 40);
  assert.equal(retry.duplicate, false, "that node cannot know R");
  const everything = merge(merge(merge(r.delta, s.delta), a.delta), retry.delta);
  assert.deepEqual(members(everything, 50), ["d"], "A was added after the remove: d stays");
});

test("crdt - a retry of an add, at a node that knew any part of the history, changes nothing that applying the add once did not", () => {
  const parts = { R: r.delta, S: s.delta, A: a.delta };
  const once = mergeAll([r.delta, s.delta, a.delta]);
  for (let known = 0; known < 8; known++) {
    const names = (["R", "S", "A"] as const).filter((_, i) => (known >> i) & 1);
    const node = mergeAll(names.map((n) => parts[n]));
    const retry = at(node, add, "R", 40);
    // A node that holds R, or S's removal of R, knows the op id.
    assert.equal(retry.duplicate, names.includes("R") || names.includes("S"), `retry at a node that knew ${names}`);
    for (const order of permutations([r.delta, s.delta, a.delta, retry.delta])) {
      const all = mergeAll(order);
      assert.deepEqual(members(all), ["d"], `retry at a node that knew ${names}`);
      // The same live adds at the same stamps (only `th`, the latest stamp of the key's type,
      // has moved on to the retry's: that is history, like a counter's retried increment).
      assert.deepEqual(liveAdds(all), liveAdds(once), "the retry adds nothing to the converged state");
    }
  }
});

test("crdt - a retry arriving before or after the remove, at every replica, leaves the later add; a remove after it takes everything", () => {
  const retry = at(merge(undefined, a.delta), add, "R", 40);
  // Replicas that each received the four deltas in some order, compacting on the way at a
  // stability point none of them passes (nothing is stable yet: no fold).
  const deltas = [r.delta, s.delta, a.delta, retry.delta];
  const replicas = permutations(deltas).map((order) =>
    order.reduce<KeyState | undefined>((acc, d) => compact(merge(acc, d) as KeyState, h(5), h(50)), undefined),
  );
  for (const rep of replicas) assert.deepEqual(members(rep), ["d"]);
  // A remove at one of them that saw everything takes d at every one.
  const last = at(replicas[7], remove, "S2", 60);
  for (const rep of replicas) assert.deepEqual(members(merge(rep, last.delta)), []);
});

test("crdt - two retries of one add, at two nodes that never saw its first attempt, with stamps before and after it, count as one add", () => {
  const early = at(merge(undefined, a.delta), add, "R", 5); // a node whose clock is behind
  const late = at(undefined, add, "R", 45);
  assert.equal(early.duplicate || late.duplicate, false);
  for (const order of permutations([r.delta, s.delta, a.delta, early.delta, late.delta])) {
    const all = mergeAll(order) as KeyState;
    assert.deepEqual(members(all), ["d"]);
    assert.equal(all.ops["R\u00000"], undefined, "R is dead: S removed it by id, whatever its stamp");
  }
  // Without A, the retries do not bring R back.
  assert.deepEqual(members(mergeAll([r.delta, s.delta, early.delta, late.delta])), []);
});

test("crdt - concurrent adds and removes of one element: add-wins, also with a retry in between", () => {
  // X adds d at 10; Y, which has not seen it, removes d at 15 (after a retry of R reached it).
  const x = at(undefined, add, "X", 10);
  const retryAtY = at(undefined, add, "R", 12);
  const removeAtY = at(retryAtY.state, remove, "Y", 15);
  const all = mergeAll([x.delta, retryAtY.delta, removeAtY.delta, r.delta]);
  assert.deepEqual(members(all), ["d"], "the remove did not observe X: X survives");
  assert.equal((all as KeyState).ops["R\u00000"], undefined, "the remove observed R (its retry): R is gone");
  // A remove that observed both takes d.
  const removeBoth = at(all, remove, "Z", 20);
  assert.deepEqual(members(merge(all, removeBoth.delta)), []);
  // And an add concurrent with that remove survives it.
  const concurrent = at(merge(undefined, x.delta), add, "W", 19);
  assert.deepEqual(members(mergeAll([all, removeBoth.delta, concurrent.delta])), ["d"]);
});

// The case that decides which adds compaction may fold. t (at node D, stamped 10) and k (at C,
// stamped 20); C had not received t when it removed d at 30, so its remove took k only, and
// t must survive it. A node N holds t and k, and every replica holds every op up to 25
// (stable 25) — but not C's remove, stamped above. N learned that stability at HLC 40 (after
// C's gossip, which came after C's remove).
test("crdt - compaction does not fold an add into a later one before every removal still to come had it", () => {
  const t = at(undefined, add, "t", 10);
  const k = at(undefined, add, "k", 20);
  const removeAtC = at(k.state, remove, "C", 30);
  assert.deepEqual(Object.keys(removeAtC.delta.rm), ["k\u00000"], "C's remove took k only");
  let n = merge(t.delta, k.delta) as KeyState;
  n = compact(n, h(25), h(40)) as KeyState;
  assert.deepEqual(Object.keys(n.ops).sort(), ["k\u00000", "t\u00000"], "t and k are stable, not settled: both kept");
  assert.deepEqual(n.fold, [h(25), h(40)], "the fold point waits for stable to pass 40");
  // Compacting again before stable passes 40 folds nothing either.
  n = compact(n, h(39), h(45)) as KeyState;
  assert.equal(Object.keys(n.ops).length, 2);
  // C's remove arrives (it is stamped below 40, so it arrives before stable passes 40).
  n = merge(n, removeAtC.delta) as KeyState;
  assert.deepEqual(members(n), ["d"], "t survives the remove that did not observe it");
  n = compact(n, h(41), h(50)) as KeyState;
  assert.deepEqual(members(n), ["d"]);
  assert.deepEqual(members(mergeAll([t.delta, k.delta, removeAtC.delta])), ["d"], "the same without compaction");
});

test("crdt - once settled, an element's adds fold into the latest; a remove after the fold takes the folded adds at replicas that kept them", () => {
  const t = at(undefined, add, "t", 10);
  const k = at(merge(undefined, t.delta), add, "k", 20);
  const m = merge(t.delta, k.delta) as KeyState; // a replica that never compacts
  let n = compact(m, h(25), h(40)) as KeyState; // the fold point [25, 40]
  n = compact(n, h(45), h(50)) as KeyState; // matured: t folds into k
  assert.deepEqual(Object.keys(n.ops), ["k\u00000"]);
  assert.ok("t\u00000" in n.done, "t's id is kept for dedup");
  assert.deepEqual(members(n), ["d"]);
  // A retry of t at N is a duplicate; at a node that never saw t it adds nothing that stays.
  assert.equal(at(n, add, "t", 55).duplicate, true);
  // N removes d: it observes k only, and its threshold (the fold point) takes t wherever it
  // is still live.
  const removeAtN = at(n, remove, "S", 60);
  assert.deepEqual(Object.keys(removeAtN.delta.rm), ["k\u00000"]);
  assert.deepEqual(removeAtN.delta.erm.d, [h(25), h(60)]);
  assert.deepEqual(members(merge(m, removeAtN.delta)), [], "the replica that kept t loses it too");
  assert.deepEqual(members(merge(n, removeAtN.delta)), []);
  // An add at M concurrent with N's remove (not observed by it) survives it, threshold or not.
  const concurrent = at(m, add, "w", 59);
  assert.deepEqual(members(mergeAll([m, concurrent.delta, removeAtN.delta])), ["d"]);
  // Once the remove is stable everywhere, its threshold goes, and the key with it.
  const after = compact(merge(n, removeAtN.delta) as KeyState, h(60), h(70)) as KeyState;
  assert.deepEqual(after.erm, Object.create(null));
  assert.equal(compact(after, h(70), h(80)), undefined);
});

test("crdt - a hot element added many times stays one live add once compaction runs, and a remove still takes it everywhere", (t) => {
  // Three coordinators take turns adding "hot" every millisecond; stability lags 50 ms
  // behind; each coordinator compacts the key before it applies a write, as the engine does.
  const lagMs = 50;
  const nodes: (KeyState | undefined)[] = [undefined, undefined, undefined];
  const inFlight: { deliverAtMs: number; to: number; delta: KeyState }[] = [];
  let maxOps = 0;
  let maxBytes = 0;
  const total = 4_000;
  for (let i = 1; i <= total; i++) {
    for (const f of inFlight.filter((x) => x.deliverAtMs <= i)) nodes[f.to] = merge(nodes[f.to], f.delta);
    inFlight.splice(0, inFlight.length, ...inFlight.filter((x) => x.deliverAtMs > i));
    const c = i % 3;
    const before = nodes[c] ? compact(nodes[c] as KeyState, h(i - lagMs), h(i)) : undefined;
    const applied = at(before, { kind: "sadd", members: ["hot", "cold"].slice(0, i === 1 ? 2 : 1) }, `op${i}`, i);
    nodes[c] = applied.state;
    for (const to of [0, 1, 2])
      if (to !== c) inFlight.push({ deliverAtMs: i + 1 + (i % 20), to, delta: applied.delta });
    maxOps = Math.max(maxOps, Object.keys(applied.state.ops).length);
    if (i % 100 === 0) maxBytes = Math.max(maxBytes, encodeState(applied.state).length);
  }
  t.diagnostic(`most live adds ${maxOps}, most bytes ${maxBytes}`);
  // Live adds: those of the last few stability lags, not the 4,000.
  assert.ok(maxOps < 6 * lagMs, `at most ${maxOps} live adds`);
  assert.ok(maxBytes < 40_000, `at most ${maxBytes} bytes`);
  for (const f of inFlight) nodes[f.to] = merge(nodes[f.to], f.delta);
  const quiet = nodes.map((s) => {
    let q = s as KeyState;
    for (let k = 1; k <= 3; k++) q = compact(q, h(total + k * 1000), h(total + k * 1000 + 1)) as KeyState;
    return q;
  });
  for (const q of quiet) {
    assert.deepEqual(members(q, total + 5000), ["cold", "hot"]);
    assert.equal(Object.keys(q.ops).length, 2, "one live add per element once quiet");
    assert.equal(digest(q), digest(quiet[0]));
  }
  // A replica that never compacted holds all 4,000 adds of "hot"; a remove at a compacted
  // one (which observes one of them) takes them all there too, and leaves "cold".
  const unfolded = mergeTree([
    at(undefined, { kind: "sadd", members: ["cold"] }, "cold", 1).delta,
    ...Array.from({ length: total }, (_, j) => at(undefined, { kind: "sadd", members: ["hot"] }, `h${j}`, j + 1).delta),
  ]) as KeyState;
  const removeHot = at(quiet[0], { kind: "srem", members: ["hot"] }, "rm-hot", total + 6000);
  assert.equal(Object.keys(removeHot.delta.rm).length, 1, "it observed one add by id");
  assert.deepEqual(members(merge(unfolded, removeHot.delta), total + 7000), ["cold"]);
  for (const q of quiet) assert.deepEqual(members(merge(q, removeHot.delta), total + 7000), ["cold"]);
});
