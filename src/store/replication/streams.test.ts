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
import { onAck, onPeerChange, onRep } from "./streams.ts";

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
function receiver(commitFails: () => boolean = () => false) {
  const sent: unknown[][] = [];
  const merged: string[] = [];
  const clock = new ManualClock();
  const node = {
    id: "n1",
    site: "s",
    // n1 and n2 in one site: n2's stream goes direct, no relay.
    membership: {
      members: [
        { id: "n1", site: "s" },
        { id: "n2", site: "s" },
      ],
    },
    clock,
    incarnation: {
      phase: "new",
      knownBy: new Set<string>(),
      confirmed: new Map<string, string>(),
      announcedMs: new Map<string, number>(),
      unconfirmed: new Set<string>(),
    },
    // This node's own stream to n2 (onPeerChange resets it).
    out: new Map([["n2", new OutboundStream("n2", 0, clock.monoMs())]]),
    expect: new Map<string, number>(),
    recv: new Map<string, number>(),
    hlc: { observe() {} },
    local: {
      mergeRemote: (key: string) => merged.push(key),
      afterNextCommit: (cb: (err?: Error) => void) => cb(commitFails() ? new Error("disk full") : undefined),
    },
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

test("streams - batches dropped before this node's own link to the peer broke still bound the first batch taken after it came back: recv claims nothing it skipped", () => {
  // Sim seed 1012 (main at 31e830e): a node not yet sound dropped n2's batches (48, 61] and
  // (61, 62], its link to n2 broke and came back, it dropped (62, 63] and (63, 64] (n2 had
  // not confirmed it again), and it took (62, 64], sent after n2 confirmed: recv claimed
  // (48, 62], a delete among it; stability passed the delete, and a replica folded the
  // deleted counter's increments into a base that then won every merge.
  const { node, sent, merged } = receiver();
  onRep(node, "n2", 48, 61, 90, [entry("d2")]);
  onRep(node, "n2", 61, 62, 91, [entry("a")]);
  onPeerChange(node, "n2", false);
  onRep(node, "n2", 62, 63, 92, [entry("b")]);
  onRep(node, "n2", 63, 64, 93, [entry("c")]);
  node.incarnation.knownBy.add("n2");
  onRep(node, "n2", 62, 64, 95, [entry("b"), entry("c")]);
  assert.deepEqual(merged, [], "nothing past the hole is merged");
  assert.equal(node.recv.get("n2") ?? 0, 0, "recv claims nothing past the dropped entries");
  assert.deepEqual(sent.at(-1), ["nack", 48], "n2 is asked to go back to the first dropped batch");
  onRep(node, "n2", 48, 64, 96, [entry("d2"), entry("a"), entry("b"), entry("c")]);
  assert.equal(node.recv.get("n2"), 96);
  assert.deepEqual(sent.at(-1), ["ack", 64]);
});

test("streams - a batch whose commit failed still bounds the next one after this node's link to the peer broke and came back", () => {
  let failing = false;
  const { node, sent } = receiver(() => failing);
  node.incarnation.phase = "sound";
  onRep(node, "n2", 0, 10, 90, [entry("a")]);
  assert.equal(node.recv.get("n2"), 90);
  failing = true;
  onRep(node, "n2", 10, 20, 91, [entry("b")]);
  failing = false;
  assert.deepEqual(sent.at(-1), ["nack", 10]);
  // The nack is lost with the link; n2's next batch, on its own connection, follows the failed one.
  onPeerChange(node, "n2", false);
  onRep(node, "n2", 20, 30, 92, [entry("c")]);
  assert.equal(node.recv.get("n2"), 90, "recv does not pass the entries whose commit failed");
  assert.deepEqual(sent.at(-1), ["nack", 10]);
});

test("streams - a peer that asks for less than it acknowledged gets the next batch from the cursor, said to follow on from what it asked: no nack loop", () => {
  const stream = new OutboundStream("n2", 0, 0);
  const log = Array.from({ length: 30 }, (_, i) => ({
    seq: i + 1,
    key: `k${i + 1}`,
    partition: 0,
    lh: 100 + i,
    targets: ["n2"],
    payload: new Uint8Array(),
  }));
  const read = (after: number, limit: number) => log.filter((e) => e.seq > after).slice(0, limit);
  const next = () => stream.next(read, 30, 200, 0, () => false)!;
  // Entries up to 20 left the log while n2 was gone: the stream skipped them.
  stream.skipTo(20, 0);
  assert.equal(next()[1], 20);
  // n2 kept its position from before (10) and asks for what follows it.
  stream.rewind(10, 0);
  const batch = next();
  assert.equal(batch[1], 10, "said to follow on from what n2 asked");
  assert.equal((batch[4] as RepEntry[])[0][0], "k21", "the entries start at the cursor");
  assert.equal(next(), undefined, "the log is sent");
  // An ordinary nack (at or above the cursor) resends from there with its own seq.
  stream.onAck(30, 0);
  stream.rewind(30, 0);
  const heartbeat = stream.next(read, 30, 200, 0, () => true)!;
  assert.deepEqual(heartbeat.slice(0, 3), ["rep", 30, 30]);
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
