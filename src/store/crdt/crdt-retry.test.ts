// Known bug, found while building the simulation's set checks (left to the CRDT's owner):
// an add also removes the adds of its element that its coordinator observed ("one live op
// per element"). A retry of an add R at a node that never saw R's first attempt is applied
// again there (not a duplicate), with that node's observations: it takes away a later add A
// of the same element, while R itself stays dead (a remove had observed its first attempt).
// The element is gone, though A was acknowledged after every remove. Applying R twice did
// more than applying it once. Marked todo until sadd's supersede no longer outlives a dead
// add (e.g. an add no longer removes others, with compaction folding duplicates instead).
import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMutation, merge, read } from "./crdt.ts";

test("crdt - a retry of an add that a remove took away does not take away a later add of the same element", {
  todo: "sadd's supersede removals come with every application of an op id, not once",
}, () => {
  const nowMs = 1_700_000_000_000;
  const h = (ms: number) => (nowMs + ms) * 1024;
  const r = applyMutation(undefined, { kind: "sadd", members: ["d"] }, { opId: "R", h: h(10), nowMs: nowMs + 10 });
  const s = applyMutation(r.state, { kind: "srem", members: ["d"] }, { opId: "S", h: h(20), nowMs: nowMs + 20 });
  const a = applyMutation(s.state, { kind: "sadd", members: ["d"] }, { opId: "A", h: h(30), nowMs: nowMs + 30 });
  // A node that has A but never saw R or S takes the client's retry of R.
  const retry = applyMutation(
    merge(undefined, a.delta),
    { kind: "sadd", members: ["d"] },
    {
      opId: "R",
      h: h(40),
      nowMs: nowMs + 40,
    },
  );
  assert.equal(retry.duplicate, false, "that node cannot know R");
  const everything = merge(merge(merge(r.delta, s.delta), a.delta), retry.delta);
  assert.deepEqual(read(everything, nowMs + 50).value, ["d"], "A was added after the remove: d stays");
});
