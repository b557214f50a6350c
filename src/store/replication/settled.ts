// Which decoded key states compaction at a stability point would leave as they are, so the
// engine does not copy, normalize and digest them again for nothing. While stability stands
// still (a node down, a refill running) a hot counter holds every op since, and the
// coordinator compacted it before each write, each replica after each merge and the sweeper
// whenever it came round: ~10 ms each for a counter of 8,000 ops (bench/store-merge.ts),
// which is what made an idle planet CPU-bound in issue 11.
//
// A state is "settled at S" when compact(state, S, h) changes nothing for any h this node
// may pass (always past S: it observed the gossip that taught it S): it came out of a
// compaction at S, or compaction at S left it as it was, or it is a settled counter merged
// with a delta that adds nothing but increments stamped after S (nothing of such a delta is
// at or below S to fold, drop or stamp). Only states that never had an expiry are marked:
// with one, the clock decides (an instant passes) and a decided mark moves `del`, so a
// second compaction may do more (crdt-props.test.ts checks the rest: compaction at a point
// is idempotent). States are never changed in place (merges and compaction copy), so the
// mark is kept per object and goes with it.
import { compact, type KeyState } from "../crdt/crdt.ts";

const settledAt = new WeakMap<KeyState, number>();

/** Whether compaction at `stable` would change nothing of `state`. */
export function isSettled(state: KeyState, stable: number): boolean {
  return settledAt.get(state) === stable;
}

/** Records that compaction at `stable` changed nothing of `state` (kept only for a state without expiries). */
export function markSettled(state: KeyState, stable: number): void {
  if (state.eh === 0 && state.exp === 0) settledAt.set(state, stable);
}

/** compact(), skipped for a state already settled at that point; its result is settled there. */
export function compactAt(state: KeyState, stable: number, nowH: number): KeyState | undefined {
  if (isSettled(state, stable)) return state;
  const out = compact(state, stable, nowH);
  if (out && nowH > stable) markSettled(out, stable);
  return out;
}

/**
 * After merged = merge(base, delta): merged is settled at `stable` if base was and the delta
 * only adds counter increments stamped after `stable` (no clear, cut, removal, dedup id or
 * expiry of its own). Anything else is compacted as before.
 */
export function settleMerged(base: KeyState, delta: KeyState, merged: KeyState, stable: number): void {
  if (!isSettled(base, stable) || base.t !== "counter" || delta.t !== "counter") return;
  if (delta.del > base.del || delta.cut > base.cut || delta.eh !== 0 || delta.exp !== 0) return;
  for (const _ in delta.rm) return;
  for (const _ in delta.done) return;
  for (const _ in delta.fdel) return;
  for (const _ in delta.erm) return;
  for (const id in delta.ops) if (delta.ops[id].h <= stable || delta.ops[id].k !== "add") return;
  settledAt.set(merged, stable);
}
