// The join of two key states (docs/store-internals.md, "Values"): union of ops, removals
// (by id, and a set element's removal thresholds) and dedup ids; max of clears and of the
// set fold point; last writer wins on the expiry; the compacted counter of the side that
// compacted further; then normalize, which drops every op that is dead for good.
//
// Type conflicts (two nodes that did not see each other's ops wrote different types to a
// key) resolve to the type of the latest content-writing op (`th`), and the losing type is
// cleared up to its own latest op (`del` rises to the loser's `th`). Both are maxima over
// every op ever seen, which is what makes this a join. ("First creator wins" is not one: once
// a clear passes the first creator, the next one must be found among ops that may already
// have been pruned, and replicas that pruned at different times disagree.)
import {
  cloneState,
  type Dict,
  dict,
  dictFrom,
  emptyState,
  isEmptyDict,
  type KeyState,
  type Op,
  typeOfOp,
} from "./crdt-types.ts";

export function merge(a: KeyState | undefined, b: KeyState | undefined): KeyState | undefined {
  if (!a || !b) {
    // One side only: the result is that side, normalized (it may come from a peer's bytes).
    const only = a ?? b;
    if (!only) return undefined;
    const s = cloneState(only);
    normalize(s);
    return isVacant(s) ? undefined : s;
  }
  const aWins = a.th > b.th || (a.th === b.th && a.t >= b.t);
  const s = emptyState(aWins ? a.t : b.t);
  s.th = Math.max(a.th, b.th);
  s.del = Math.max(a.del, b.del, a.t === b.t ? 0 : Math.min(a.th, b.th));
  const aExp = a.eh > b.eh || (a.eh === b.eh && a.exp >= b.exp);
  s.eh = aExp ? a.eh : b.eh;
  s.exp = aExp ? a.exp : b.exp;
  s.ops = unionOps(a.ops, b.ops);
  s.rm = unionWith(a.rm, b.rm, Math.min);
  s.fdel = unionWith(a.fdel, b.fdel, Math.max);
  s.done = unionWith(a.done, b.done, joinDone);
  s.erm = unionWith(a.erm, b.erm, joinErm);
  s.fold = joinFold(a.fold, b.fold);
  if (a.cut !== b.cut) {
    const from = a.cut > b.cut ? a : b;
    s.cut = from.cut;
    s.base = typeof from.base === "number" ? from.base : dictFrom(from.base);
  } else {
    s.cut = a.cut;
    s.base = tieBase(a.base, b.base, s.t);
  }
  // The side whose clears, removals and dedup ids already include the other's: its ops stay
  // live, so only the other side's ops need looking at (a replica merging one new op into a
  // hot key's state walked all of them on every merge).
  const small = killsNoLess(a, b) ? b : killsNoLess(b, a) ? a : undefined;
  normalize(s, small?.ops);
  return isVacant(s) ? undefined : s;
}

/**
 * Whether nothing in `small` kills an op that `big` holds live: same type, no later clear,
 * cut, field clear or element removal threshold, no removal or dedup id `big` lacks. Then
 * every op of the normalized `big` is still live in their merge.
 */
function killsNoLess(big: KeyState, small: KeyState): boolean {
  if (big.t !== small.t || small.del > big.del || small.cut > big.cut) return false;
  for (const id in small.rm) if (!(id in big.rm)) return false;
  for (const id in small.done) if (!(id in big.done)) return false;
  for (const f in small.fdel) if (small.fdel[f] > Math.max(big.del, big.fdel[f] ?? 0)) return false;
  for (const e in small.erm) if (small.erm[e][0] > Math.max(big.del, big.erm[e]?.[0] ?? 0)) return false;
  return true;
}

/**
 * Whether `b` adds nothing to `a`: merge(a, b) would be `a` itself, byte for byte (same
 * digest, same representation). Costs a walk of `b` only, where the merge copies and
 * normalizes all of `a` — what a replica receives again (a stream resent from its cursor, a
 * retried op's state spread again, read repair, anti-entropy and refill pages of a state it
 * holds) is mostly that, and a hot key's state is large exactly when stability stands still.
 * Conservative: false whenever the answer would take more than a lookup per entry (the merge
 * then runs as before). `a` must be normalized (every stored state is).
 */
export function contains(a: KeyState, b: KeyState): boolean {
  if (a.t !== b.t || b.th > a.th || b.del > a.del || b.cut > a.cut) return false;
  if (!(a.eh > b.eh || (a.eh === b.eh && a.exp >= b.exp))) return false;
  if (!(a.fold[0] > b.fold[0] || (a.fold[0] === b.fold[0] && a.fold[1] <= b.fold[1]))) return false;
  if (a.cut === b.cut) {
    if (typeof a.base === "number") {
      if (typeof b.base !== "number" || b.base > a.base) return false;
    } else {
      if (typeof b.base === "number") return false;
      for (const f in b.base) if (!(f in a.base) || b.base[f] > a.base[f]) return false;
    }
  }
  for (const id in b.ops) {
    const mine = a.ops[id];
    if (mine) {
      if (b.ops[id].h < mine.h) return false;
    } else {
      // Not live here: only contained if it is done here with a stamp no later (else done moves).
      const done = a.done[id];
      if (!done || done[0] > b.ops[id].h) return false;
    }
  }
  for (const id in b.rm) {
    const mine = a.rm[id];
    if (mine === undefined || b.rm[id] < mine) return false;
  }
  for (const f in b.fdel) {
    if (b.fdel[f] <= a.del) continue; // normalize would drop it
    const mine = a.fdel[f];
    if (mine === undefined || b.fdel[f] > mine) return false;
  }
  for (const id in b.done) {
    const mine = a.done[id];
    if (!mine) return false;
    const theirs = b.done[id];
    if (theirs[0] < mine[0]) return false;
    if (mine[1] === 0 ? theirs[1] !== 0 : theirs[1] !== 0 && theirs[1] < mine[1]) return false;
  }
  for (const e in b.erm) {
    const theirs = b.erm[e];
    if (theirs[0] <= a.del) continue; // normalize would drop it
    const mine = a.erm[e];
    if (!mine || !(mine[0] > theirs[0] || (mine[0] === theirs[0] && mine[1] <= theirs[1]))) return false;
  }
  return !isVacant(a);
}

/**
 * Drops what is dead for good, in place: ops cleared by `del` or `fdel`, removed (`rm`, `erm`),
 * already done, folded into `base` (counter ops with h <= cut), or of another type than `t`;
 * their ids go to `done`. Also drops a base killed by a clear and redundant field clears.
 * Idempotent; every state handed out by this module is normalized. `onlyOps`: only these
 * ids can be dead (the merge knows the other ops stay live).
 */
export function normalize(s: KeyState, onlyOps?: Dict<Op>): void {
  // `cut` is a plain maximum, never lowered (lowering it in some states and not others would
  // make the join depend on the order of merges); only the base goes when a clear or a type
  // change killed it.
  if (s.t === "counter") {
    if (typeof s.base !== "number" || s.del >= s.cut) s.base = 0;
  } else if (s.t === "map") {
    if (typeof s.base === "number") s.base = dict();
  } else {
    s.base = 0;
  }
  for (const f in s.fdel) if (s.fdel[f] <= s.del) delete s.fdel[f];
  for (const e in s.erm) if (s.erm[e][0] <= s.del) delete s.erm[e];
  if (typeof s.base !== "number") {
    for (const f in s.base) if (Math.max(s.del, s.fdel[f] ?? 0) >= s.cut) delete s.base[f];
  }
  for (const id in onlyOps ?? s.ops) {
    const op = s.ops[id];
    if (op && isDead(s, id, op)) {
      delete s.ops[id];
      addDone(s.done, id, op.h);
    }
  }
}

function isDead(s: KeyState, id: string, op: Op): boolean {
  if (op.h <= s.del || typeOfOp[op.k] !== s.t || id in s.done) return true;
  switch (op.k) {
    case "sadd":
      return id in s.rm || op.h <= (s.erm[op.e as string]?.[0] ?? 0);
    case "add":
      return op.h <= s.cut;
    case "fset":
      return op.h <= (s.fdel[op.f as string] ?? 0);
    case "fadd":
      return op.h <= s.cut || op.h <= (s.fdel[op.f as string] ?? 0);
    default:
      return false;
  }
}

/** Records an id as done; the same id twice keeps the smaller h and the earlier known retainUntil. */
export function addDone(done: Dict<[number, number]>, id: string, h: number, retainUntil = 0): void {
  const prev = done[id];
  done[id] = prev ? joinDone(prev, [h, retainUntil]) : [h, retainUntil];
}

/** retainUntil 0 means "not yet known"; any known one is a valid bound, so the smaller wins. */
function joinDone(a: [number, number], b: [number, number]): [number, number] {
  const r = a[1] === 0 ? b[1] : b[1] === 0 ? a[1] : Math.min(a[1], b[1]);
  return [Math.min(a[0], b[0]), r];
}

/** Of two element removals the one reaching further wins (either one that reached every replica did the other's work); a tie keeps the earlier. */
function joinErm(a: [number, number], b: [number, number]): [number, number] {
  return a[0] > b[0] || (a[0] === b[0] && a[1] <= b[1]) ? a : b;
}

/**
 * Each fold point is a fact on its own (x was stable when some node's HLC was u), so the join
 * may keep either: the one further on, a tie the one that matures first.
 */
export function joinFold(a: [number, number], b: [number, number]): [number, number] {
  return a[0] > b[0] || (a[0] === b[0] && a[1] <= b[1]) ? a : b;
}

function unionOps(a: Dict<Op>, b: Dict<Op>): Dict<Op> {
  const out = dictFrom(a);
  for (const id in b) {
    const mine = out[id];
    // A retried op stamped twice (two coordinators) is one op, placed at its first stamp.
    if (!mine || b[id].h < mine.h) out[id] = b[id];
  }
  return out;
}

function unionWith<V>(a: Dict<V>, b: Dict<V>, join: (x: V, y: V) => V): Dict<V> {
  const out = dictFrom(a);
  for (const k in b) out[k] = k in out ? join(out[k], b[k]) : b[k];
  return out;
}

/** Equal cuts hold equal bases (every replica folded the same stable ops); the max keeps the join commutative anyway. */
function tieBase(a: KeyState["base"], b: KeyState["base"], t: KeyState["t"]): KeyState["base"] {
  if (typeof a === "number" && typeof b === "number") return Math.max(a, b);
  if (typeof a !== "number" && typeof b !== "number") return unionWith(a, b, Math.max);
  const numeric = t === "counter";
  const pick = (typeof a === "number") === numeric ? a : b;
  return typeof pick === "number" ? pick : dictFrom(pick);
}

/** A state that carries no information at all is the same as no state. */
export function isVacant(s: KeyState): boolean {
  return (
    s.th === 0 &&
    s.del === 0 &&
    s.eh === 0 &&
    s.exp === 0 &&
    s.cut === 0 &&
    (typeof s.base === "number" ? s.base === 0 : isEmptyDict(s.base)) &&
    isEmptyDict(s.ops) &&
    isEmptyDict(s.rm) &&
    isEmptyDict(s.fdel) &&
    isEmptyDict(s.done) &&
    isEmptyDict(s.erm) &&
    s.fold[0] === 0 &&
    s.fold[1] === 0
  );
}
