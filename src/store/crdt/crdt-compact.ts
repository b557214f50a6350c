// Compaction at stability (docs/store-internals.md, "Why compaction is safe"): once every
// replica of every site holds every op with HLC <= stable, counter ops at or below it fold
// into `base`, superseded writes and stable removal records go, and dedup ids are kept until
// `stable` passes the HLC at which this node learned they were stable (any retry of the op
// was stamped before that, so it has reached every replica by then).
//
// Expiries are decided and folded into `del` as crdt-expiry.ts describes; counters never
// fold across the instant of an expiry not decided yet, so a base dies with it or survives
// with it as a whole.
import { assert } from "../../core/index.ts";
import { decideExpiries } from "./crdt-expiry.ts";
import { existsAt, mapFieldParts, regWinner } from "./crdt-read.ts";
import { addDone, normalize } from "./crdt-state.ts";
import { cloneState, type Dict, expiryHlc, isEmptyDict, type KeyState, parseExpiryMarker } from "./crdt-types.ts";
import { hlcWallMs } from "./hlc.ts";

/**
 * Compacts a state given `stable` (every replica holds every op with HLC <= stable) and this
 * node's current HLC. Returns undefined when nothing of the key needs keeping any more.
 */
export function compact(state: KeyState, stable: number, nowH: number): KeyState | undefined {
  assert(Number.isSafeInteger(stable) && stable >= 0, "stable must be a non-negative safe integer");
  assert(Number.isSafeInteger(nowH) && nowH >= 0, "nowH must be a non-negative safe integer");
  const s = cloneState(state);
  const expiry = decideExpiries(s, stable, hlcWallMs(nowH));
  if (expiry.clear > s.del) s.del = expiry.clear;
  for (const id of expiry.dropIds) delete s.done[id];
  normalize(s);
  const drop = (id: string): void => {
    addDone(s.done, id, s.ops[id].h);
    delete s.ops[id];
  };
  if (s.t === "reg") pruneRegisters(s, stable, drop);
  else if (s.t === "counter") foldCounter(s, expiry.foldTo, drop);
  else if (s.t === "map") foldMap(s, stable, expiry.foldTo, drop);
  for (const id in s.rm) {
    if (s.rm[id] <= stable) {
      addDone(s.done, id, s.rm[id]);
      delete s.rm[id];
    }
  }
  for (const f in s.fdel) if (s.fdel[f] <= stable) delete s.fdel[f];
  for (const id in s.done) {
    if (parseExpiryMarker(id)) continue; // expiry marks go when decided (above)
    const [h, retainUntil] = s.done[id];
    if (retainUntil === 0) {
      if (h <= stable) s.done[id] = [h, nowH];
    } else if (retainUntil <= stable) {
      delete s.done[id];
    }
  }
  normalize(s);
  return droppable(s, stable) ? undefined : s;
}

/** A register op that lost to a later one can go once stable: no earlier stamp of the winner can still arrive. */
function pruneRegisters(s: KeyState, stable: number, drop: (id: string) => void): void {
  const w = regWinner(s, s.del);
  for (const id in s.ops) if (id !== w?.[0] && s.ops[id].h <= stable) drop(id);
}

function foldCounter(s: KeyState, foldTo: number, drop: (id: string) => void): void {
  if (foldTo <= s.cut) return;
  let base = typeof s.base === "number" ? s.base : 0;
  for (const id in s.ops) {
    const op = s.ops[id];
    if (op.h <= foldTo) {
      base += op.d as number;
      drop(id);
    }
  }
  s.base = base;
  s.cut = foldTo;
}

/** Per field: the later of its latest write and its base, plus later increments, becomes the new base. */
function foldMap(s: KeyState, stable: number, foldTo: number, drop: (id: string) => void): void {
  const parts = mapFieldParts(s, s.del);
  const base = s.base as Dict<number>;
  for (const p of parts.values()) {
    for (const [id, op] of p.fsets) if (id !== p.r?.[0] && op.h <= stable) drop(id);
    // A write older than the field's base is superseded by it.
    if (p.r && p.base !== undefined && p.r[1].h <= s.cut) {
      drop(p.r[0]);
      p.r = undefined;
    }
  }
  if (foldTo <= s.cut) return;
  for (const [f, p] of parts) {
    let fromH = -1;
    let value = 0;
    let present = false;
    if (p.r && p.r[1].h <= foldTo) {
      const v = p.r[1].v;
      if (typeof v !== "number") {
        // Increments after a non-numeric write are ignored for good; the write stays an op.
        delete base[f];
        for (const [id, op] of p.adds) if (op.h <= foldTo) drop(id);
        continue;
      }
      fromH = p.r[1].h;
      value = v;
      present = true;
      drop(p.r[0]);
    } else if (p.base !== undefined) {
      fromH = s.cut;
      value = p.base;
      present = true;
    }
    for (const [id, op] of p.adds) {
      if (op.h > foldTo) continue;
      if (op.h > fromH) {
        value += op.d as number;
        present = true;
      }
      drop(id);
    }
    if (present) base[f] = value;
  }
  s.cut = foldTo;
}

function droppable(s: KeyState, stable: number): boolean {
  if (existsAt(s, s.del)) return false;
  if (!isEmptyDict(s.ops) || !isEmptyDict(s.rm) || !isEmptyDict(s.fdel) || !isEmptyDict(s.done)) return false;
  if (typeof s.base === "number" ? s.base !== 0 : !isEmptyDict(s.base)) return false;
  if (s.del > stable || s.th > stable || s.eh > stable) return false;
  return s.exp === 0 || s.del >= expiryHlc(s.exp);
}
