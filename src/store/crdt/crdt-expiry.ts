// Expiry (TTL). Every op that sets an expiry leaves a mark (eh, exp) in `done`; the latest
// is also the register (eh, exp). An expiry fires, clearing every op stamped up to its
// instant (HLC exp * 1024 - 1), unless another op set an expiry after it and before its
// instant: "it passed before anyone replaced it". That is a function of the set of marks, so
// replicas agree whatever order ops arrive in and whether or not a writer had seen the
// expiry. The latest mark fires once the wall clock reaches it; an earlier one fires as soon
// as the next mark is known to come after its instant.
//
// A mark is decided for good once `stable` passes the next mark or its instant, whichever
// comes first (every op that could still come between has arrived). Decided marks form a
// prefix in HLC order; compaction folds the ones that fired into `del` and drops them.
import { expiryHlc, type KeyState, parseExpiryMarker } from "./crdt-types.ts";

export type ExpiryMark = { eh: number; exp: number; id?: string };

/** The expiries the state remembers, in HLC order, the register included. */
export function expiryMarks(s: KeyState): ExpiryMark[] {
  if (s.eh === 0) return [];
  const marks: ExpiryMark[] = [];
  let registerSeen = false;
  for (const id in s.done) {
    const m = parseExpiryMarker(id);
    if (!m) continue;
    marks.push({ ...m, id });
    if (m.eh === s.eh && m.exp === s.exp) registerSeen = true;
  }
  if (!registerSeen) marks.push({ eh: s.eh, exp: s.exp });
  return marks.sort((a, b) => a.eh - b.eh || a.exp - b.exp);
}

/**
 * The clear point that expiries give: the greatest instant of an expiry that fired. With
 * nowMs undefined only the ones a later mark proves fired count (what does not depend on
 * the time).
 */
export function expiryClear(s: KeyState, nowMs?: number): number {
  const marks = expiryMarks(s);
  let clear = 0;
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i];
    if (m.exp === 0) continue;
    const next = marks[i + 1];
    const fired = next ? next.eh > expiryHlc(m.exp) : nowMs !== undefined && nowMs >= m.exp;
    if (fired) clear = Math.max(clear, expiryHlc(m.exp));
  }
  return clear;
}

/** The clear point at wall time nowMs: `del`, or the instant of an expiry that fired. */
export function effectiveDel(s: KeyState, nowMs: number): number {
  return Math.max(s.del, expiryClear(s, nowMs));
}

/**
 * At compaction: which marks are decided (their ids can go), the clear the fired ones give,
 * and how far counters may fold (never across the instant of an expiry not yet decided).
 */
export function decideExpiries(
  s: KeyState,
  stable: number,
  nowMs: number,
): { clear: number; dropIds: string[]; foldTo: number } {
  const marks = expiryMarks(s);
  let clear = 0;
  let foldTo = stable;
  const dropIds: string[] = [];
  let deciding = true;
  for (let i = 0; i < marks.length; i++) {
    const m = marks[i];
    const instant = m.exp > 0 ? expiryHlc(m.exp) : Number.POSITIVE_INFINITY;
    const next = marks[i + 1]?.eh ?? Number.POSITIVE_INFINITY;
    let decided = false;
    if (next <= Math.min(instant, stable)) {
      decided = true; // replaced before it passed: never fires
    } else if (m.exp > 0 && stable >= instant && (next !== Number.POSITIVE_INFINITY || nowMs >= m.exp)) {
      decided = true;
      clear = Math.max(clear, instant);
    } else if (m.exp === 0 && next === Number.POSITIVE_INFINITY && m.eh <= stable) {
      decided = true; // the latest says "no expiry" and everything before it is known
    }
    deciding &&= decided;
    if (deciding) {
      if (m.id) dropIds.push(m.id);
    } else if (m.exp > 0 && instant > s.del) {
      foldTo = Math.min(foldTo, instant);
    }
  }
  return { clear, dropIds, foldTo };
}

/** The wall time at which something about the key's expiry changes next (0: never): for an expiry index. */
export function nextExpiryMs(s: KeyState): number {
  let next = 0;
  for (const m of expiryMarks(s)) {
    if (m.exp > 0 && expiryHlc(m.exp) > s.del && (next === 0 || m.exp < next)) next = m.exp;
  }
  return next;
}
