// Compaction at stability (docs/store-internals.md, "Why compaction is safe"): once every
// replica of every site holds every op with HLC <= stable, counter ops at or below it fold
// into `base`, a set element's settled adds fold into one (foldSet), superseded writes and
// stable removal records go, and dedup ids are kept until `stable` passes the HLC at which
// this node learned they were stable (any retry of the op was stamped before that, so it
// has reached every replica by then).
//
// Expiries are decided and folded into `del` as crdt-expiry.ts describes; counters never
// fold across the instant of an expiry not decided yet, so a base dies with it or survives
// with it as a whole.
import { assert } from "../../core/index.ts";
import { blindOpIdPrefix } from "../constants.ts";
import { decideExpiries } from "./crdt-expiry.ts";
import { existsAt, liveOps, mapFieldParts, regWinner } from "./crdt-read.ts";
import { addDone, normalize } from "./crdt-state.ts";
import {
  cloneState,
  type Dict,
  expiryHlc,
  isEmptyDict,
  type KeyState,
  later,
  type Op,
  parseExpiryMarker,
} from "./crdt-types.ts";
import { hlcWallMs } from "./hlc.ts";

/**
 * Compacts a state given `stable` (every replica holds every op with HLC <= stable) and this
 * node's current HLC, past every HLC it observed (so past the gossip that taught it
 * `stable`: what it records as the HLC at which it learned that). Returns undefined when
 * nothing of the key needs keeping any more.
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
  const forget = (id: string): void => {
    delete s.ops[id];
  };
  if (s.t === "reg") pruneRegisters(s, stable, drop, forget);
  else if (s.t === "counter") foldCounter(s, expiry.foldTo, drop);
  else if (s.t === "map") foldMap(s, stable, expiry.foldTo, drop, forget);
  else foldSet(s, stable, nowH, drop);
  for (const e in s.erm) if (s.erm[e][1] <= stable) delete s.erm[e];
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

/**
 * A register op that lost to a later one can go once stable: no earlier stamp of the winner
 * (a retry that another coordinator stamped before the first attempt reached it) can still
 * arrive, and with one the loser would win again.
 *
 * Blind writes (op ids starting with blindOpIdPrefix) do not wait. That wait lasts as long as
 * a dead node holds stability, and a register rewritten several times a second keeps every
 * write since: a site's instance registry (~30 lease writes a second) was 178 kB 30 s after a
 * store node died in a proof run, re-encoded and stored at every replica on every write, until
 * the planet browned out. Behind a blind winner, a blind loser goes at once and without a
 * dedup id: a blind write's retry carries the same content, so whichever of its stamps a
 * replica places it at, the value is the same write. A late copy of a loser comes back a loser
 * and goes again, and the rule is a function of the op set, so replicas agree. What a blind
 * writer gives up: a retry stamped later elsewhere may, on the replicas that meet it first,
 * win over the blind writes between its stamps until anti-entropy brings those back; its own
 * retries are answered by the dedup table, not the key's state. A loser that is not blind
 * waits as before (its retries need its id).
 */
function pruneRegisters(s: KeyState, stable: number, drop: (id: string) => void, forget: (id: string) => void): void {
  const w = regWinner(s, s.del);
  for (const id in s.ops) pruneLoser(id, s.ops[id].h, w?.[0], stable, drop, forget);
}

/** One write against its register's (or field's) winner `winnerId`, as pruneRegisters says. */
function pruneLoser(
  id: string,
  h: number,
  winnerId: string | undefined,
  stable: number,
  drop: (id: string) => void,
  forget: (id: string) => void,
): void {
  if (id === winnerId) return;
  if (h <= stable) drop(id);
  else if (winnerId?.startsWith(blindOpIdPrefix) && id.startsWith(blindOpIdPrefix)) forget(id);
}

/**
 * Folds each element's settled adds into the latest of them (one live add per element, the
 * state stays small however often an element is added). Which adds may go is the whole
 * question; a removal that has not arrived yet observed some adds and not others, and
 * folding must not change what it removes:
 *
 * - An add at or below `stable` is not enough: a removal stamped above it, by a node that
 *   had the later add k but not yet the earlier add t, took k and not t, so t must survive
 *   it; folding t into k would lose the element.
 * - Settled is enough. The fold point [x, u] says x was stable when some node's HLC was u.
 *   A node that had not received an add t <= x when it stamped an op did so before it
 *   gossiped the stability that let anyone learn x (its gossip carries its HLC, which every
 *   node observes), so below u. Once `stable` passes u, every op still to arrive was stamped
 *   by a node that had t: a removal of the element removes t, by id when t was live there,
 *   by its threshold when that node had folded t (every removal carries its coordinator's
 *   fold point, erm), or t was dead there for a reason that reaches every replica anyway.
 *   So a settled add dies with any removal of its element still to come, and with any
 *   clear (all of them stamped above x).
 * - The one kept is the latest (h, id) of the element's settled adds: a clear or threshold
 *   that kills it kills every earlier one too, so "some add of the element survives" is the
 *   same before and after. Another node may keep a later one (its fold point is further):
 *   the one kept here is then settled there and folded in its turn, never the other way.
 *
 * The fold point is moved on only once it matured (or there is none) and only while some
 * element has two live adds: a set of distinct members never gets one. It is never lowered:
 * a removal's threshold must cover every add this node folded away.
 */
function foldSet(s: KeyState, stable: number, nowH: number, drop: (id: string) => void): void {
  const [x, u] = s.fold;
  if (x > 0 && u > stable) return; // not matured yet
  if (x > 0) {
    const kept = new Map<string, [string, Op]>();
    for (const [id, op] of liveOps(s, s.del)) {
      if (op.h > x) continue;
      const e = op.e as string;
      const k = kept.get(e);
      if (!k) kept.set(e, [id, op]);
      else if (later(id, op, k[0], k[1])) {
        drop(k[0]);
        kept.set(e, [id, op]);
      } else drop(id);
    }
  }
  if (stable <= x || nowH < stable) return;
  const seen = new Set<string>();
  for (const [, op] of liveOps(s, s.del)) {
    if (seen.has(op.e as string)) {
      s.fold = [stable, nowH];
      return;
    }
    seen.add(op.e as string);
  }
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
function foldMap(
  s: KeyState,
  stable: number,
  foldTo: number,
  drop: (id: string) => void,
  forget: (id: string) => void,
): void {
  const parts = mapFieldParts(s, s.del);
  const base = s.base as Dict<number>;
  for (const p of parts.values()) {
    // A field's superseded writes go as a register's do (pruneRegisters), blind ones at once.
    for (const [id, op] of p.fsets) pruneLoser(id, op.h, p.r?.[0], stable, drop, forget);
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
  if (!isEmptyDict(s.erm)) return false;
  if (typeof s.base === "number" ? s.base !== 0 : !isEmptyDict(s.base)) return false;
  if (s.del > stable || s.th > stable || s.eh > stable) return false;
  return s.exp === 0 || s.del >= expiryHlc(s.exp);
}
