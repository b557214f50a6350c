// The dedup table's part of a refill (refill.ts): a node rebuilt on an empty disk gets back
// the key states from its peers, but the op ids that already folded out of those states
// (about two stability lags after their op) live only in the peers' dedup tables. Without
// them a user's retry of an old write that reaches the rebuilt node first would be applied a
// second time. So, during the pull stage, the node pages through each peer's table in
// (h, op id, key) order ("filld" / "filldres"), keeps the rows of the partitions it
// replicates that are still within the window, and commits them before asking for the next
// page. A page is bounded in rows and bytes; a peer that does not answer is asked again
// from its last page on a later tick.
import { hlcFromWallMs } from "../crdt/hlc.ts";
import type { DedupCursor, DedupRow } from "../storage/storage.ts";
import { refillCallTimeoutMs, refillDedupPageBytesMax, refillDedupPageRowsMax } from "./engine-constants.ts";
import type { NodeContext } from "./node-context.ts";

export type DedupTransfer = {
  readonly peer: string;
  /** The last row transferred (the next page starts after it). */
  after: DedupCursor | undefined;
  busy: boolean;
  done: boolean;
};

/** A wire row: [opId, key, partition, h, answer]. */
type WireDedupRow = readonly [opId: string, key: string, partition: number, h: number, answer: string];

/** One transfer per peer that replicates some partition this node does. */
export function dedupTransfersOf(peers: Iterable<string>): DedupTransfer[] {
  return [...new Set(peers)].map((peer) => ({ peer, after: undefined, busy: false, done: false }));
}

/** The oldest HLC a row may have and still matter: older ones are expired anyway. */
function windowStartH(node: NodeContext): number {
  return Math.max(0, hlcFromWallMs(Math.floor(node.clock.nowMs()) - node.planet.store.dedupWindowS * 1_000));
}

/** Asks a peer for the next page of its dedup table, and goes on once the page is committed. */
export function stepDedup(node: NodeContext, t: DedupTransfer, onProgress: () => void): void {
  t.busy = true;
  let answered = false;
  const timer = node.clock.setTimer(refillCallTimeoutMs, () => {
    if (answered) return;
    answered = true;
    node.calls.delete(callId);
    t.busy = false; // asked again from the same page on a later tick
  });
  const callId = node.calls.call((reply) => {
    if (answered) return;
    answered = true;
    timer.cancel();
    if (reply[0] !== "filldres") {
      t.busy = false;
      return;
    }
    const rows = reply[2] as WireDedupRow[];
    const next = reply[3] as DedupCursor | null;
    const mine = new Set(node.mine);
    let kept = 0;
    for (const r of rows) {
      if (!mine.has(r[2])) continue;
      node.local.putDedup({ opId: r[0], key: r[1], partition: r[2], h: r[3], answer: r[4] });
      kept++;
    }
    node.m.refillKeys.inc({ direction: "dedup" }, kept);
    node.local.afterNextCommit((err) => {
      t.busy = false;
      if (err) return; // the page is asked for again
      if (next === null) t.done = true;
      else t.after = next;
      onProgress();
    });
  });
  const message = ["filld", callId, t.after ?? null, node.mine];
  if (!node.transport.send(t.peer, message)) {
    answered = true;
    timer.cancel();
    node.calls.delete(callId);
    t.busy = false;
  }
}

function isCursor(v: unknown): v is DedupCursor {
  return (
    Array.isArray(v) &&
    v.length === 3 &&
    Number.isSafeInteger(v[0]) &&
    typeof v[1] === "string" &&
    typeof v[2] === "string"
  );
}

/**
 * A refilling peer asks for a page of this node's dedup table: the rows within the window of
 * the partitions it lists, after its cursor. The cursor returned is the last row scanned (not
 * the last one sent), so rows of other partitions are skipped once, not scanned again.
 */
export function onFillDedup(
  node: NodeContext,
  from: string,
  callId: string,
  after: unknown,
  partitions: unknown,
): void {
  if (after !== null && !isCursor(after)) throw new Error("malformed dedup page start");
  if (!Array.isArray(partitions) || !partitions.every((p) => Number.isSafeInteger(p))) {
    throw new Error("malformed dedup page partitions");
  }
  const wanted = new Set(partitions as number[]);
  const startH = windowStartH(node);
  // Rows older than the window are skipped at the start: the scan begins at its edge.
  const from_: DedupCursor | undefined = after ?? (startH > 0 ? [startH, "", ""] : undefined);
  const scanned: DedupRow[] = node.storage.scanDedup(from_, refillDedupPageRowsMax);
  const rows: WireDedupRow[] = [];
  let bytes = 0;
  let last: DedupRow | undefined;
  for (const r of scanned) {
    if (rows.length > 0 && bytes + r.answer.length + r.key.length + r.opId.length > refillDedupPageBytesMax) break;
    last = r;
    if (!wanted.has(r.partition)) continue;
    rows.push([r.opId, r.key, r.partition, r.h, r.answer]);
    bytes += r.answer.length + r.key.length + r.opId.length + 24;
  }
  const more = scanned.length === refillDedupPageRowsMax || (last !== undefined && last !== scanned.at(-1));
  const next: DedupCursor | null = more && last ? [last.h, last.opId, last.key] : null;
  node.m.refillKeys.inc({ direction: "dedup-served" }, rows.length);
  node.transport.send(from, ["filldres", callId, rows, next]);
}
