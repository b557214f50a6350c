// What a coordinator does with a client's mutation: validate it, recognise a retry by its op
// id, stamp it, and produce the new state plus a small delta that has exactly the op's
// effect when merged into any replica. Replication ships deltas.
import { assert } from "../../core/index.ts";
import {
  elementsPerKeyMax,
  fieldBytesMax,
  fieldsPerMutationMax,
  jsonDepthMax,
  memberBytesMax,
  membersPerMutationMax,
  opIdBytesMax,
  ttlSMax,
  valueBytesMax,
} from "../constants.ts";
import { storeErrors } from "../errors.ts";
import { packCanonical, sortedJson } from "./codec.ts";
import { effectiveDel } from "./crdt-expiry.ts";
import { counterValue, elementCount, existsAt, fieldValue, liveOps, mapFieldParts, read } from "./crdt-read.ts";
import { merge } from "./crdt-state.ts";
import {
  emptyState,
  expiryMarkerId,
  type KeyState,
  type Mutation,
  type MutationContext,
  type ReadResult,
  subOpId,
  type ValueType,
} from "./crdt-types.ts";
import { hlcWallMs } from "./hlc.ts";

export const mutationKinds = ["set", "incr", "sadd", "srem", "mset", "mincr", "mdel", "del"] as const;

/** The type a mutation writes (or removes from); `del` works on any type. */
export const mutationType: Readonly<Record<Mutation["kind"], ValueType | undefined>> = {
  set: "reg",
  incr: "counter",
  sadd: "set",
  srem: "set",
  mset: "map",
  mincr: "map",
  mdel: "map",
  del: undefined,
};

export type Applied = { state: KeyState; delta: KeyState; duplicate: boolean; value: ReadResult };

function bad(field: string, why: string): Error {
  return storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `${field} ${why}`);
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (x === null || typeof x !== "object" || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * A string with a lone surrogate cannot be encoded as UTF-8: msgpack would store U+FFFD
 * instead, and the replica that applied the op and the ones that decoded it would then
 * disagree. Such strings are refused.
 */
function checkWellFormed(text: string, field: string): void {
  if (!text.isWellFormed()) throw bad(field, "holds a string with a lone UTF-16 surrogate (not valid Unicode)");
}

function checkJson(value: unknown, field: string, depth = 0): void {
  if (depth > jsonDepthMax) throw bad(field, `nests deeper than ${jsonDepthMax} levels`);
  if (typeof value === "string") {
    checkWellFormed(value, field);
    return;
  }
  if (value === null || typeof value === "boolean") return;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw bad(field, "must be a finite number");
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) checkJson(item, field, depth + 1);
    return;
  }
  if (isPlainObject(value)) {
    for (const k of Object.keys(value)) {
      checkWellFormed(k, field);
      checkJson(value[k], field, depth + 1);
    }
    return;
  }
  throw bad(field, "must be a JSON value");
}

function checkNames(names: unknown, field: string, countMax: number, bytesMax: number): asserts names is string[] {
  if (!Array.isArray(names) || names.length === 0) throw bad(field, "must be a non-empty array of strings");
  if (names.length > countMax) throw bad(field, `has more than ${countMax} entries`);
  for (const n of names) {
    if (typeof n !== "string") throw bad(field, "must hold only strings");
    checkWellFormed(n, field);
    if (utf8Length(n) > bytesMax) throw bad(field, `has an entry longer than ${bytesMax} bytes`);
  }
}

export function validateOpId(opId: unknown): asserts opId is string {
  if (typeof opId !== "string" || opId.length === 0) throw bad("opId", "must be a non-empty string");
  if (utf8Length(opId) > opIdBytesMax) throw bad("opId", `must be at most ${opIdBytesMax} bytes`);
  if (opId.includes("\u0000")) throw bad("opId", "must not contain NUL");
  checkWellFormed(opId, "opId");
}

/** Throws RS_ERR_STORE_BAD_REQUEST naming the bad field, or RS_ERR_STORE_VALUE_TOO_LARGE. */
export function validateMutation(m: unknown): asserts m is Mutation {
  if (!isPlainObject(m)) throw bad("mutation", "must be an object");
  const kind = m.kind;
  if (!mutationKinds.includes(kind as Mutation["kind"]))
    throw bad("kind", `must be one of ${mutationKinds.join(", ")}`);
  if (
    m.ttlS !== undefined &&
    !(Number.isSafeInteger(m.ttlS) && (m.ttlS as number) >= 0 && (m.ttlS as number) <= ttlSMax)
  ) {
    throw bad("ttlS", `must be an integer from 0 (no expiry) to ${ttlSMax}`);
  }
  switch (kind) {
    case "set":
      if (m.value === undefined) throw bad("value", "is missing");
      checkJson(m.value, "value");
      break;
    case "incr":
      if (!Number.isSafeInteger(m.by)) throw bad("by", "must be a safe integer");
      break;
    case "sadd":
    case "srem":
      checkNames(m.members, "members", membersPerMutationMax, memberBytesMax);
      break;
    case "mdel":
      checkNames(m.fields, "fields", fieldsPerMutationMax, fieldBytesMax);
      break;
    case "mset":
    case "mincr": {
      const fields = m.fields;
      if (!isPlainObject(fields)) throw bad("fields", "must be an object of field -> value");
      const names = Object.keys(fields);
      checkNames(names, "fields", fieldsPerMutationMax, fieldBytesMax);
      for (const f of names) {
        if (kind === "mincr" && !Number.isSafeInteger(fields[f])) throw bad(`fields.${f}`, "must be a safe integer");
        if (kind === "mset") checkJson(fields[f], `fields.${f}`);
      }
      break;
    }
  }
  const size = mutationSize(m as Mutation);
  if (size > valueBytesMax) {
    throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `the mutation's value encodes to ${size} bytes`);
  }
}

/** Encoded bytes of what a mutation carries (its value, members or fields). */
export function mutationSize(m: Mutation): number {
  switch (m.kind) {
    case "set":
      return packCanonical(m.value).length;
    case "sadd":
    case "srem":
      return packCanonical(m.members).length;
    case "mset":
    case "mincr":
    case "mdel":
      return packCanonical(m.fields).length;
    default:
      return 0;
  }
}

function counterRange(what: string): Error {
  return storeErrors.create("RS_ERR_STORE_COUNTER_RANGE", what);
}

/** The distinct members or fields of a mutation, sorted: sub-op i gets id subOpId(opId, i). */
function names(m: Mutation): string[] {
  switch (m.kind) {
    case "sadd":
    case "srem":
      return [...new Set(m.members)].sort();
    case "mdel":
      return [...new Set(m.fields)].sort();
    case "mset":
    case "mincr":
      return Object.keys(m.fields).sort();
    default:
      return [];
  }
}

function isDuplicate(s: KeyState, opId: string, subCount: number): boolean {
  if (opId in s.ops || opId in s.done) return true;
  for (let i = 0; i < subCount; i++) {
    const id = subOpId(opId, i);
    if (id in s.ops || id in s.done || id in s.rm) return true;
  }
  return false;
}

/** Ids of the live add ops of each element, as the coordinator sees them (what a removal observes). */
function observedAdds(s: KeyState | undefined, del: number): Map<string, string[]> {
  const byElement = new Map<string, string[]>();
  if (s?.t !== "set") return byElement;
  for (const [id, op] of liveOps(s, del)) {
    const ids = byElement.get(op.e as string);
    if (ids) ids.push(id);
    else byElement.set(op.e as string, [id]);
  }
  return byElement;
}

/**
 * Applies a client mutation at its coordinator. Throws RS_ERR_STORE_WRONG_TYPE when the key
 * holds a live value of another type, RS_ERR_STORE_COUNTER_RANGE when a counter would leave
 * the safe integers, RS_ERR_STORE_BAD_REQUEST / _VALUE_TOO_LARGE for bad input. A retry (an
 * op id the state already knows) changes nothing and reports duplicate: true.
 */
export function applyMutation(state: KeyState | undefined, m: Mutation, ctx: MutationContext): Applied {
  validateMutation(m);
  validateOpId(ctx.opId);
  assert(Number.isSafeInteger(ctx.h) && ctx.h > 0, "the op's HLC must be a positive safe integer");
  assert(Number.isFinite(ctx.nowMs), "nowMs must be a number");
  const { opId, h, nowMs } = ctx;
  const elements = names(m);
  if (state && isDuplicate(state, opId, elements.length)) {
    return { state, delta: emptyState(state.t), duplicate: true, value: read(state, nowMs) };
  }
  // The key as the coordinator sees it at this op's time (an expiry that passed clears it).
  const del = state ? effectiveDel(state, Math.max(nowMs, hlcWallMs(h))) : 0;
  const live = state !== undefined && existsAt(state, del);
  const type = mutationType[m.kind];
  if (type && live && state.t !== type) {
    throw storeErrors.create("RS_ERR_STORE_WRONG_TYPE", `the key holds a ${state.t}, the mutation writes a ${type}`);
  }
  const delta = emptyState(type ?? state?.t ?? "reg");
  const opIdDone = (): void => {
    delta.done[opId] = [h, 0];
  };
  switch (m.kind) {
    case "set":
      delta.ops[opId] = { h, k: "set", v: sortedJson(m.value) };
      delta.th = h;
      break;
    case "incr": {
      const current = live ? counterValue(state, del) : 0;
      if (!Number.isSafeInteger(current + m.by)) throw counterRange(`${current} + ${m.by}`);
      delta.ops[opId] = { h, k: "add", d: m.by };
      delta.th = h;
      break;
    }
    case "sadd":
      // An add removes nothing, not even the earlier adds of its element: a retry applied
      // again at a node that never saw its first attempt would take them away a second time
      // with that node's observations (crdt-retry.test.ts). Compaction folds an element's
      // settled adds into one instead (crdt-compact.ts).
      elements.forEach((e, i) => {
        delta.ops[subOpId(opId, i)] = { h, k: "sadd", e };
      });
      delta.th = h;
      break;
    case "srem": {
      const observed = live ? observedAdds(state, del) : new Map<string, string[]>();
      // Every add up to the fold point is one this node had received (it was stable), so
      // removing them all by HLC is removing what it observed, the adds it folded away
      // included: a replica that has not folded them yet loses them too.
      const foldedTo = state?.fold[0] ?? 0;
      assert(foldedTo < h, "a removal is stamped after the fold point of the state it observes");
      for (const e of elements) {
        for (const id of observed.get(e) ?? []) delta.rm[id] = h;
        if (foldedTo > 0) delta.erm[e] = [foldedTo, h];
      }
      opIdDone();
      break;
    }
    case "mset":
      elements.forEach((f, i) => {
        const v = m.fields[f];
        if (v === null) delta.fdel[f] = h;
        else delta.ops[subOpId(opId, i)] = { h, k: "fset", f, v: sortedJson(v) };
      });
      if (elements.some((f) => m.fields[f] !== null)) delta.th = h;
      else opIdDone();
      break;
    case "mincr": {
      const parts = live ? mapFieldParts(state, del) : new Map();
      elements.forEach((f, i) => {
        const p = parts.get(f);
        const fv = p ? fieldValue(p, state?.cut ?? 0) : { present: false, value: 0 };
        const current = fv.present ? fv.value : 0;
        if (typeof current !== "number") {
          throw storeErrors.create("RS_ERR_STORE_WRONG_TYPE", `field ${f} holds a value that is not a number`);
        }
        const by = m.fields[f];
        if (!Number.isSafeInteger(current + by)) throw counterRange(`field ${f}: ${current} + ${by}`);
        delta.ops[subOpId(opId, i)] = { h, k: "fadd", f, d: by };
      });
      delta.th = h;
      break;
    }
    case "mdel":
      for (const f of elements) delta.fdel[f] = h;
      opIdDone();
      break;
    case "del":
      delta.del = h;
      opIdDone();
      break;
  }
  if (m.ttlS !== undefined) {
    delta.eh = h;
    // Counted from the later of the wall clock and the HLC, so the op is never stamped after
    // the expiry it sets (it would outlive it). The mark lets every replica tell, later, which
    // expiries passed before another replaced them (see crdt-expiry.ts).
    delta.exp = m.ttlS === 0 ? 0 : Math.max(Math.floor(nowMs), hlcWallMs(h)) + m.ttlS * 1000;
    delta.done[expiryMarkerId(h, delta.exp)] = [h, 0];
  }
  const next = merge(state, delta);
  assert(next !== undefined, "a mutation always leaves a trace");
  if (
    (m.kind === "sadd" || m.kind === "mset" || m.kind === "mincr") &&
    elementCount(next, effectiveDel(next, Math.max(nowMs, hlcWallMs(h)))) > elementsPerKeyMax
  ) {
    throw storeErrors.create(
      "RS_ERR_STORE_VALUE_TOO_LARGE",
      `the key would hold more than ${elementsPerKeyMax} elements`,
    );
  }
  return { state: next, delta, duplicate: false, value: read(next, nowMs) };
}
