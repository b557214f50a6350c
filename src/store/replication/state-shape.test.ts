import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMutation, compact, type KeyState, type Mutation, merge } from "../crdt/crdt.ts";
import { needsCompaction, sameRepresentation } from "./state-shape.ts";

const nowMs = 1_700_000_000_000;
const h = (ms: number) => (nowMs + ms) * 1024;
const at = (s: KeyState | undefined, m: Mutation, opId: string, ms: number) =>
  applyMutation(s, m, { opId, h: h(ms), nowMs: nowMs + ms });

test("state shape - a set with two live adds of one element needs compaction (to fold them); one of distinct members does not", () => {
  const distinct = at(
    at(undefined, { kind: "sadd", members: ["a"] }, "1", 1).state,
    { kind: "sadd", members: ["b"] },
    "2",
    2,
  );
  assert.equal(needsCompaction(distinct.state), false);
  const twice = at(distinct.state, { kind: "sadd", members: ["a"] }, "3", 3);
  assert.equal(needsCompaction(twice.state), true);
  // Folded (the fold point set, then matured): one add per element again.
  const folded = compact(compact(twice.state, h(5), h(6)) as KeyState, h(7), h(8)) as KeyState;
  assert.equal(Object.keys(folded.ops).length, 2);
  assert.equal(needsCompaction(folded), true, "the folded add's id is kept for dedup a while");
  assert.equal(needsCompaction(compact(folded, h(9), h(10)) as KeyState), false);
});

test("state shape - a merge that moves an element removal's threshold on is not the same representation", () => {
  let s = at(undefined, { kind: "sadd", members: ["a", "b"] }, "1", 1).state;
  s = at(s, { kind: "sadd", members: ["a"] }, "2", 2).state;
  s = compact(compact(s, h(5), h(6)) as KeyState, h(7), h(8)) as KeyState; // folded at the point [5, 6]
  const early = at(s, { kind: "srem", members: ["b"] }, "r1", 10);
  assert.deepEqual(early.delta.erm.b, [h(5), h(10)]);
  const further = compact(merge(s, at(s, { kind: "sadd", members: ["a"] }, "3", 11).delta) as KeyState, h(12), h(13));
  const late = at(further, { kind: "srem", members: ["b"] }, "r2", 14);
  assert.deepEqual(late.delta.erm.b, [h(12), h(14)], "a later fold point, a further threshold");
  const before = early.state;
  const after = merge(before, late.delta) as KeyState;
  assert.equal(Object.keys(after.erm).length, Object.keys(before.erm).length);
  assert.equal(sameRepresentation(before, after), false, "the threshold moved on: the state must be written again");
  assert.equal(sameRepresentation(after, merge(after, early.delta) as KeyState), true);
});
