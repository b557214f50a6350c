// What a key state means: its value at a given time, whether it exists, and a digest of the
// content that converged replicas agree on. Pure functions of the state (and the time, for
// expiry), so every replica reads the same from the same ops.
import { packCanonical } from "./codec.ts";
import { effectiveDel, expiryClear } from "./crdt-expiry.ts";
import { expiryHlc, type KeyState, later, type Op, type ReadResult, setOwn, typeOfOp } from "./crdt-types.ts";
import { murmur3 } from "./hash.ts";

function isLive(s: KeyState, op: Op, del: number): boolean {
  if (op.h <= del || typeOfOp[op.k] !== s.t) return false;
  return op.f === undefined || op.h > (s.fdel[op.f] ?? 0);
}

/**
 * Live ops of the key's type under clear point `del` (fields also checked against fdel), as
 * an array: every merge digests its result and a hot key holds thousands of ops, where a
 * generator's step per op cost more than the check itself.
 */
export function liveOps(s: KeyState, del: number): [string, Op][] {
  const out: [string, Op][] = [];
  for (const id in s.ops) {
    const op = s.ops[id];
    if (isLive(s, op, del)) out.push([id, op]);
  }
  return out;
}

function anyLive(s: KeyState, del: number): boolean {
  for (const id in s.ops) if (isLive(s, s.ops[id], del)) return true;
  return false;
}

export function regWinner(s: KeyState, del: number): [string, Op] | undefined {
  let best: [string, Op] | undefined;
  for (const [id, op] of liveOps(s, del)) if (!best || later(id, op, best[0], best[1])) best = [id, op];
  return best;
}

export function counterValue(s: KeyState, del: number): number {
  let sum = s.cut > del && typeof s.base === "number" ? s.base : 0;
  for (const id in s.ops) {
    const op = s.ops[id];
    if (op.h > s.cut && isLive(s, op, del)) sum += op.d as number;
  }
  return sum;
}

export function setMembers(s: KeyState, del: number): string[] {
  const members = new Set<string>();
  for (const [, op] of liveOps(s, del)) members.add(op.e as string);
  return [...members].sort();
}

/** What one map field holds: its latest live write, its live increments, and its compacted base. */
export type FieldParts = { r?: [string, Op]; fsets: [string, Op][]; adds: [string, Op][]; base?: number };

export function mapFieldParts(s: KeyState, del: number): Map<string, FieldParts> {
  const fields = new Map<string, FieldParts>();
  const partsOf = (f: string): FieldParts => {
    let p = fields.get(f);
    if (!p) fields.set(f, (p = { fsets: [], adds: [] }));
    return p;
  };
  for (const [id, op] of liveOps(s, del)) {
    const p = partsOf(op.f as string);
    if (op.k === "fset") {
      p.fsets.push([id, op]);
      if (!p.r || later(id, op, p.r[0], p.r[1])) p.r = [id, op];
    } else if (op.h > s.cut) {
      p.adds.push([id, op]);
    }
  }
  if (typeof s.base !== "number") {
    for (const f in s.base) if (s.cut > Math.max(del, s.fdel[f] ?? 0)) partsOf(f).base = s.base[f];
  }
  return fields;
}

/**
 * A field's value: the later of its latest write and its compacted base (which counts as a
 * numeric write at HLC `cut`), plus the increments after it when that is a number. A field
 * that was only ever incremented is the sum of its increments.
 */
export function fieldValue(p: FieldParts, cut: number): { present: boolean; value?: unknown } {
  let fromH = -1;
  let value = 0;
  if (p.r && (p.base === undefined || p.r[1].h > cut)) {
    const v = p.r[1].v;
    if (typeof v !== "number") return { present: true, value: v };
    fromH = p.r[1].h;
    value = v;
  } else if (p.base !== undefined) {
    fromH = cut;
    value = p.base;
  } else if (p.adds.length === 0) {
    return { present: false };
  }
  for (const [, op] of p.adds) if (op.h > fromH) value += op.d as number;
  return { present: true, value };
}

export function mapValue(s: KeyState, del: number): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const parts = mapFieldParts(s, del);
  for (const f of [...parts.keys()].sort()) {
    const fv = fieldValue(parts.get(f) as FieldParts, s.cut);
    if (fv.present) out.set(f, fv.value);
  }
  return out;
}

export function existsAt(s: KeyState, del: number): boolean {
  switch (s.t) {
    case "counter":
      return s.th > del;
    case "map":
      return mapValue(s, del).size > 0;
    default:
      return anyLive(s, del);
  }
}

/** Number of live set members or map fields (0 for the other types). */
export function elementCount(s: KeyState, del: number): number {
  if (s.t === "set") return setMembers(s, del).length;
  if (s.t === "map") return mapValue(s, del).size;
  return 0;
}

/**
 * The key's value at wall time nowMs. reg: the value; counter: a number; set: sorted members;
 * map: an object of field -> value. Values are shared with the state: do not change them.
 */
export function read(s: KeyState | undefined, nowMs: number): ReadResult {
  if (!s) return { exists: false };
  const del = effectiveDel(s, nowMs);
  switch (s.t) {
    case "reg": {
      const w = regWinner(s, del);
      return w ? { exists: true, type: "reg", value: w[1].v } : { exists: false };
    }
    case "counter":
      return s.th > del ? { exists: true, type: "counter", value: counterValue(s, del) } : { exists: false };
    case "set": {
      const members = setMembers(s, del);
      return members.length > 0 ? { exists: true, type: "set", value: members } : { exists: false };
    }
    case "map": {
      const fields = mapValue(s, del);
      if (fields.size === 0) return { exists: false };
      const value: Record<string, unknown> = {};
      for (const [f, v] of fields) setOwn(value, f, v);
      return { exists: true, type: "map", value };
    }
  }
}

const opEntry = (e: [string, Op]): unknown[] => [
  e[0],
  e[1].h,
  e[1].k,
  e[1].f ?? null,
  e[1].v ?? null,
  e[1].d ?? null,
  e[1].e ?? null,
];
const byId = (a: [string, Op], b: [string, Op]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * 32-bit digest of what the key holds, ignoring the time (so not whether it expired) and
 * everything that only represents history: the compaction point, dedup ids, removal records,
 * clears, an expiry that fired. Content merely represented differently while compaction
 * catches up (ops folded at one replica, not yet at another) differs only until both
 * compacted. 0 for a key that holds nothing, the same as for a key that does not exist.
 */
export function digest(s: KeyState | undefined): number {
  if (!s) return 0;
  const del = Math.max(s.del, expiryClear(s));
  if (!existsAt(s, del)) return 0;
  let content: unknown;
  switch (s.t) {
    case "reg":
      content = opEntry(regWinner(s, del) as [string, Op]);
      break;
    case "counter":
      content = [
        s.cut > del ? s.base : 0,
        liveOps(s, del)
          .filter((e) => e[1].h > s.cut)
          .sort(byId)
          .map(opEntry),
      ];
      break;
    case "set":
      content = liveOps(s, del).sort(byId).map(opEntry);
      break;
    case "map": {
      const parts = mapFieldParts(s, del);
      content = [...parts.keys()].sort().map((f) => {
        const p = parts.get(f) as FieldParts;
        return [f, p.r ? opEntry(p.r) : null, p.adds.sort(byId).map(opEntry), p.base ?? null];
      });
      break;
    }
  }
  // An expiry that fired is history too (a key dropped and written again no longer has it).
  const pending = s.exp > 0 && del < expiryHlc(s.exp);
  return murmur3(packCanonical([s.t, s.th, pending ? s.exp : 0, pending ? s.eh : 0, content]));
}
