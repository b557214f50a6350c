import assert from "node:assert/strict";
import { test } from "node:test";
import { applyMutation, encodeState } from "../crdt/crdt.ts";
import { StagedRow } from "./staged-row.ts";

test("a staged row encodes its state only when its bytes are first read, once, to the state's encoding", () => {
  const { state } = applyMutation(undefined, { kind: "mincr", fields: { a: 1 } }, { opId: "o1", h: 1 << 20, nowMs: 1 });
  const row = new StagedRow("k", 3, state, 42, 0);
  assert.equal(row.encoded, false, "nothing encoded at staging");
  assert.deepEqual(row.state, encodeState(state));
  assert.equal(row.encoded, true);
  assert.equal(row.state, row.state, "the same bytes on every read");
  assert.deepEqual([row.key, row.partition, row.digest, row.expiresAtMs], ["k", 3, 42, 0]);
});
