// An ack makes its peer a holder of every waiting write it covers, whatever order the writes
// began to wait in (commits resolve their waiters in any order) and whatever order acks come.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../core/index.ts";
import type { NodeContext, PendingWrite } from "./node-context.ts";
import { OutboundStream } from "./outbound-stream.ts";
import { onAck } from "./streams.ts";

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
