// An ack makes its peer a holder of every waiting write it covers, whatever order the writes
// began to wait in (commits resolve their waiters in any order) and whatever order acks come.
// A node that drops batches from a peer that has not confirmed its incarnation yet claims
// (recv) nothing it did not take.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../core/index.ts";
import { applyMutation, encodeState } from "../crdt/crdt.ts";
import type { NodeContext, PendingWrite } from "./node-context.ts";
import { OutboundStream, type RepEntry } from "./outbound-stream.ts";
import { onAck, onRep } from "./streams.ts";

function context(pending: PendingWrite[]): NodeContext {
  const clock = new ManualClock();
  // Only what onAck reads: the stream to the peer, the waiting writes, placement, and a
  // transport that sees the peer down (so nothing is pumped).
  return {
    id: "n1",
    site: "s",
    clock,
    out: new Map([["n2", new OutboundStream("n2", 0, clock.monoMs())]]),
    pending,
    replicas: [new Map([["s", ["n1", "n2"]]])],
    membership: {
      epoch: 0,
      members: [
        { id: "n1", site: "s" },
        { id: "n2", site: "s" },
      ],
    },
    transport: { isUp: () => false },
  } as unknown as NodeContext;
}

function waiting(seq: number, settled: number[]): PendingWrite {
  return {
    seq,
    targets: new Set(["n2"]),
    holders: new Set(["n1"]),
    hinted: new Set(),
    partition: 0,
    level: "all",
    done: false,
    resolve: () => settled.push(seq),
    reject: (err) => assert.fail(err),
    timer: { cancel() {} },
  };
}

test("streams - an ack settles every waiting write it covers even when a later seq began to wait first", () => {
  const settled: number[] = [];
  const node = context([waiting(7, settled), waiting(5, settled), waiting(9, settled)]);
  onAck(node, "n2", 6);
  assert.deepEqual(settled, [5], "seq 5 is covered by the ack of 6; 7 and 9 are not");
  assert.deepEqual(
    node.pending.map((pw) => pw.seq),
    [7, 9],
  );
  onAck(node, "n2", 9);
  assert.deepEqual(settled, [5, 7, 9]);
  assert.deepEqual(node.pending, []);
});

test("streams - an older ack arriving after a newer one changes nothing", () => {
  const settled: number[] = [];
  const node = context([waiting(3, settled), waiting(2, settled)]);
  onAck(node, "n2", 3);
  onAck(node, "n2", 1);
  assert.deepEqual(settled.sort(), [2, 3]);
  assert.equal(node.out.get("n2")!.acked, 3);
});

/**
 * A node in phase "new" (restarted, so nothing is expected from n2 yet) receiving n2's
 * stream: only what onRep reads. Commits complete at once; sent messages are recorded.
 */
function receiver() {
  const sent: unknown[][] = [];
  const merged: string[] = [];
  const node = {
    id: "n1",
    incarnation: { phase: "new", knownBy: new Set<string>() },
    expect: new Map<string, number>(),
    recv: new Map<string, number>(),
    hlc: { observe() {} },
    local: { mergeRemote: (key: string) => merged.push(key), afterNextCommit: (cb: (err?: Error) => void) => cb() },
    m: { replicated: { inc() {} } },
    transport: { send: (_to: string, m: unknown[]) => sent.push(m) },
  } as unknown as NodeContext;
  return { node, sent, merged };
}

const entry = (key: string): RepEntry => {
  const { state } = applyMutation(undefined, { kind: "incr", by: 1 }, { opId: `op-${key}`, h: 1, nowMs: 0 });
  return [key, 0, encodeState(state)];
};

test("streams - a batch taken after batches dropped before the peer confirmed this incarnation must continue from the dropped ones: recv claims nothing it skipped", () => {
  const { node, sent, merged } = receiver();
  // Sent from the cursor before n2 confirmed this (restarted) node: dropped.
  onRep(node, "n2", 0, 5, 90, [entry("k")]);
  node.incarnation.knownBy.add("n2");
  // A heartbeat n2 sent after confirming, before the "nack 0" of the confirmation reached it.
  onRep(node, "n2", 5, 5, 100, []);
  assert.equal(node.recv.get("n2") ?? 0, 0, "recv claims nothing past the dropped entries");
  assert.deepEqual(sent, [["nack", 0]], "n2 is asked to go back to the dropped batch");
  // n2 resends from its cursor.
  onRep(node, "n2", 0, 5, 95, [entry("k")]);
  assert.deepEqual(merged, ["k"]);
  assert.equal(node.recv.get("n2"), 95);
  assert.deepEqual(sent.at(-1), ["ack", 5]);
  onRep(node, "n2", 5, 5, 100, []);
  assert.equal(node.recv.get("n2"), 100, "then the stream goes on as usual");
});

test("streams - batches dropped from old cursors bound only the first batch taken: a stream restarted below them still has its gaps found", () => {
  const { node, sent } = receiver();
  // A reborn node: n2's stream came from the old incarnation's cursor, then restarted at 0.
  onRep(node, "n2", 50, 60, 90, [entry("k")]);
  node.incarnation.knownBy.add("n2");
  onRep(node, "n2", 0, 10, 91, [entry("a")]);
  assert.equal(node.recv.get("n2"), 91);
  // The batch (10, 20] is lost: the next one is a gap, not taken.
  onRep(node, "n2", 20, 30, 93, [entry("c")]);
  assert.equal(node.recv.get("n2"), 91);
  assert.deepEqual(sent.at(-1), ["nack", 10]);
});

test("streams - a relayed batch with nothing expected of its stream continues from the coordinator's cursor: one that overtook a lost batch is nacked through the relay, and recv claims nothing", () => {
  const { node, sent, merged } = receiver();
  Object.assign(node.incarnation, { phase: "sound", unconfirmed: new Set() });
  // Restarted (nothing expected of n2's stream yet). n2 acknowledged up to 10 before; its
  // relayed batch (10, 20] was lost with the relay's connection, and (20, 30] comes.
  const answers: (readonly unknown[])[] = [];
  const viaRelay = { reply: (m: readonly unknown[]) => void answers.push(m), cursor: 10 };
  onRep(node, "n2", 20, 30, 300, [entry("c")], viaRelay);
  assert.deepEqual(merged, [], "the batch past the hole is not taken");
  assert.equal(node.recv.get("n2") ?? 0, 0, "recv claims nothing past the hole");
  assert.deepEqual(answers, [["nack", 10]], "answered through the relay: resend after the cursor");
  assert.deepEqual(sent, [], "nothing straight to the coordinator");
  onRep(node, "n2", 10, 20, 200, [entry("b")], viaRelay);
  onRep(node, "n2", 20, 30, 300, [entry("c")], viaRelay);
  assert.deepEqual(merged, ["b", "c"]);
  assert.equal(node.recv.get("n2"), 300);
  assert.deepEqual(answers.slice(1), [
    ["ack", 20],
    ["ack", 30],
  ]);
});
