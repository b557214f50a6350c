// Exactly once for a day: every op id applied on a node is kept in its dedup table (written
// in the op's own commit, by the coordinator with its answer, and by every replica that
// merges the op), so a retry with the same op id on any node of any site within the
// planet's store.dedupWindowS is answered as a duplicate instead of applied again, long
// after the id folded out of the key's CRDT state (which keeps ids only for about two
// stability lags). Expired by age, a bounded batch per tick, off the write path.
import { hlcFromWallMs } from "../crdt/hlc.ts";
import type { DedupRow } from "../storage/storage.ts";
import { dedupAnswerBytesMax, dedupExpirePerTick } from "./engine-constants.ts";
import type { NodeContext } from "./node-context.ts";

/** The row a coordinator records for an op it applied: the answer, when small enough to keep. */
export function coordinatorRow(opId: string, key: string, partition: number, h: number, value: unknown): DedupRow {
  const json = JSON.stringify(value);
  return { opId, key, partition, h, answer: json.length <= dedupAnswerBytesMax ? json : "" };
}

/** Deletes one batch of rows older than the window. Runs from the tick. */
export function expireDedup(node: NodeContext): void {
  const beforeH = hlcFromWallMs(Math.floor(node.clock.nowMs()) - node.planet.store.dedupWindowS * 1_000);
  if (beforeH <= 0) return;
  const removed = node.storage.expireDedup(beforeH, dedupExpirePerTick);
  if (removed > 0) node.m.dedupExpired.inc(undefined, removed);
}
