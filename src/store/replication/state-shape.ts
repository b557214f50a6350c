// Cheap questions about a key state's shape that the engine asks on every write and merge,
// answered without encoding the state: is a merged or compacted state stored the same as
// before, and is there anything left for compaction at stability to fold.
import type { KeyState } from "../crdt/crdt.ts";

function countOf(d: object): number {
  let n = 0;
  for (const _ in d) n++;
  return n;
}

/**
 * Whether two states of one key with equal digests (one the merge or compaction of the
 * other) are stored the same: merges and compaction only grow or shrink these parts, so
 * comparing the scalars and the sizes (and the retention marks of dedup ids, and a set's
 * element removals, which a merge may move on in place) tells without encoding.
 */
export function sameRepresentation(a: KeyState, b: KeyState): boolean {
  if (a.cut !== b.cut || a.del !== b.del || a.exp !== b.exp || a.eh !== b.eh || a.t !== b.t) return false;
  if (a.fold[0] !== b.fold[0] || a.fold[1] !== b.fold[1]) return false;
  if (countOf(a.ops) !== countOf(b.ops) || countOf(a.rm) !== countOf(b.rm) || countOf(a.done) !== countOf(b.done)) {
    return false;
  }
  if (countOf(a.erm) !== countOf(b.erm)) return false;
  for (const e in a.erm) {
    const x = a.erm[e];
    const y = b.erm[e];
    if (!y || x[0] !== y[0] || x[1] !== y[1]) return false;
  }
  let ra = 0;
  let rb = 0;
  for (const id in a.done) ra += a.done[id][1];
  for (const id in b.done) rb += b.done[id][1];
  return ra === rb;
}

/** Whether a state holds anything that compaction at a later stability point would change. */
export function needsCompaction(s: KeyState): boolean {
  if (s.del > 0 || s.exp > 0 || countOf(s.rm) > 0 || countOf(s.done) > 0 || countOf(s.fdel) > 0) return true;
  if (countOf(s.erm) > 0) return true;
  // Superseded register writes (a register's older values, a map field's) are pruned at
  // stability; a set element's adds are folded into one.
  let registers = 0;
  const fields = new Set<string>();
  const members = new Set<string>();
  for (const id in s.ops) {
    const op = s.ops[id];
    if (op.k === "sadd") {
      if (members.has(op.e ?? "")) return true;
      members.add(op.e ?? "");
    }
    if (op.k === "add" || op.k === "fadd" || ((op.k === "set" || op.k === "fset") && op.v === undefined)) return true;
    if (op.k === "set" && ++registers > 1) return true;
    if (op.k === "fset") {
      if (fields.has(op.f ?? "")) return true;
      fields.add(op.f ?? "");
    }
  }
  return false;
}
