// How key states travel and rest: msgpack with every map's keys sorted (so equal states encode
// to equal bytes, which digests rely on), behind a format version byte (3: version 2's fields
// and a set's element removals and fold point; 2: the fields as an array; 1: a map of field
// names). A state with no element removals and no fold point is still written as version 2,
// byte for byte as before. A decoder keeps reading every version ever written;
// src/store/crdt/fixtures holds one encoding per version.
import { Packr } from "msgpackr";
import { stateFormatVersion } from "../constants.ts";
import { storeErrors } from "../errors.ts";
import {
  type Dict,
  dict,
  isEmptyDict,
  type KeyState,
  type Op,
  type OpKind,
  opKinds,
  setOwn,
  type ValueType,
  valueTypes,
} from "./crdt-types.ts";

// Maps decode as Map, never as objects, so a client's "__proto__" field or op id survives.
const packr = new Packr({ useRecords: false, mapsAsObjects: false, variableMapSize: true });

/** A JSON-like value with every object turned into a Map of sorted keys, for deterministic bytes. */
export function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value).sort();
    return new Map(entries.map((k) => [k, canonical((value as Record<string, unknown>)[k])]));
  }
  return value;
}

export function packCanonical(value: unknown): Uint8Array {
  return packr.pack(canonical(value));
}

/** A value packed by packCanonical, back as the plain JSON-like value a state holds; throws RS_ERR_STORE_BAD_REQUEST when it is not msgpack. */
export function unpackCanonical(bytes: Uint8Array): unknown {
  try {
    return plain(packr.unpack(bytes));
  } catch (cause) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "value encoding: not msgpack", { cause });
  }
}

/** A JSON-like value with object keys sorted, the form in which the store keeps client values. */
export function sortedJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedJson);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) setOwn(out, k, sortedJson((value as Record<string, unknown>)[k]));
    return out;
  }
  return value;
}

function sortedMap<V>(d: Dict<V>, each: (v: V) => unknown = (v) => v): Map<string, unknown> {
  return new Map(
    Object.keys(d)
      .sort()
      .map((k) => [k, each(d[k])]),
  );
}

function opMap(op: Op): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (op.d !== undefined) m.set("d", op.d);
  if (op.e !== undefined) m.set("e", op.e);
  if (op.f !== undefined) m.set("f", op.f);
  m.set("h", op.h);
  m.set("k", op.k);
  if (op.v !== undefined) m.set("v", canonical(op.v));
  return m;
}

// Version 2 (this one): the state's eleven fields as a msgpack array, in this order, instead
// of version 1's map of field names (base, cut, del, done, eh, exp, fdel, ops, rm, t, th):
// the names were a quarter of a written register's bytes, on disk and in every replication
// entry, and packing them cost as much again.
const fieldsV2 = ["t", "th", "del", "exp", "eh", "ops", "rm", "fdel", "cut", "base", "done"] as const;

// Version 3: version 2's fields, then erm and fold (a set's element removals and fold point,
// docs/store-internals.md "Values"). Written only for a state that holds either.
const fieldsV3 = [...fieldsV2, "erm", "fold"] as const;
const v2Names: readonly string[] = fieldsV2;

export function encodeState(s: KeyState): Uint8Array {
  const v3 = !isEmptyDict(s.erm) || s.fold[0] !== 0 || s.fold[1] !== 0;
  const fields: unknown[] = [
    s.t,
    s.th,
    s.del,
    s.exp,
    s.eh,
    sortedMap(s.ops, opMap),
    sortedMap(s.rm),
    sortedMap(s.fdel),
    s.cut,
    typeof s.base === "number" ? s.base : sortedMap(s.base),
    sortedMap(s.done),
  ];
  if (v3) fields.push(sortedMap(s.erm), s.fold);
  const body = packr.pack(fields);
  const out = new Uint8Array(body.length + 1);
  out[0] = v3 ? stateFormatVersion : 2;
  out.set(body, 1);
  return out;
}

function bad(what: string): Error {
  return storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `state encoding: ${what}`);
}

function asMap(x: unknown, what: string): Map<unknown, unknown> {
  if (!(x instanceof Map)) throw bad(`${what} is not a map`);
  return x;
}

function asHlc(x: unknown, what: string): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw bad(`${what} is not a non-negative integer`);
  return x as number;
}

function asDict<V>(x: unknown, what: string, each: (v: unknown, name: string) => V): Dict<V> {
  const out = dict<V>();
  for (const [k, v] of asMap(x, what)) {
    if (typeof k !== "string") throw bad(`${what} has a key that is not a string`);
    out[k] = each(v, `${what}[${JSON.stringify(k)}]`);
  }
  return out;
}

/** A decoded client value: Maps back to plain objects. */
function plain(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(plain);
  if (x instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of x) setOwn(out, String(k), plain(v));
    return out;
  }
  return x;
}

function asOp(x: unknown, what: string): Op {
  const m = asMap(x, what);
  const k = m.get("k");
  if (!opKinds.includes(k as OpKind)) throw bad(`${what}.k is not an op kind`);
  const op: Op = { h: asHlc(m.get("h"), `${what}.h`), k: k as OpKind };
  const f = m.get("f");
  const e = m.get("e");
  const d = m.get("d");
  if (f !== undefined) {
    if (typeof f !== "string") throw bad(`${what}.f is not a string`);
    op.f = f;
  }
  if (e !== undefined) {
    if (typeof e !== "string") throw bad(`${what}.e is not a string`);
    op.e = e;
  }
  if (d !== undefined) {
    if (!Number.isSafeInteger(d)) throw bad(`${what}.d is not an integer`);
    op.d = d as number;
  }
  if (m.has("v")) op.v = plain(m.get("v"));
  return op;
}

function unpackBody(body: Uint8Array): unknown {
  try {
    return packr.unpack(body);
  } catch (cause) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "state encoding: not msgpack", { cause });
  }
}

/** Version 1: a map of field names. */
function decodeV1(body: Uint8Array): KeyState {
  const m = asMap(unpackBody(body), "state");
  return fromFields((name) => (v2Names.includes(name) ? m.get(name) : undefined));
}

/** Version 2: the fields in the order of fieldsV2. */
function decodeV2(body: Uint8Array): KeyState {
  const a = unpackBody(body);
  if (!Array.isArray(a) || a.length !== fieldsV2.length) throw bad(`state is not an array of ${fieldsV2.length}`);
  return fromFields((name) => (v2Names.includes(name) ? a[v2Names.indexOf(name)] : undefined));
}

/** Version 3: the fields in the order of fieldsV3. */
function decodeV3(body: Uint8Array): KeyState {
  const a = unpackBody(body);
  if (!Array.isArray(a) || a.length !== fieldsV3.length) throw bad(`state is not an array of ${fieldsV3.length}`);
  return fromFields((name) => a[fieldsV3.indexOf(name)]);
}

function asPair(v: unknown, what: string): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) throw bad(`${what} is not a pair`);
  return [asHlc(v[0], `${what}[0]`), asHlc(v[1], `${what}[1]`)];
}

/** Fields absent from older versions (erm, fold) read as empty. */
function fromFields(get: (name: (typeof fieldsV3)[number]) => unknown): KeyState {
  const t = get("t");
  if (!valueTypes.includes(t as ValueType)) throw bad("t is not a value type");
  const base = get("base");
  return {
    t: t as ValueType,
    th: asHlc(get("th"), "th"),
    del: asHlc(get("del"), "del"),
    exp: asHlc(get("exp"), "exp"),
    eh: asHlc(get("eh"), "eh"),
    ops: asDict(get("ops"), "ops", asOp),
    rm: asDict(get("rm"), "rm", asHlc),
    fdel: asDict(get("fdel"), "fdel", asHlc),
    cut: asHlc(get("cut"), "cut"),
    base:
      typeof base === "number"
        ? base
        : asDict(base, "base", (v, w) => {
            if (typeof v !== "number") throw bad(`${w} is not a number`);
            return v;
          }),
    done: asDict(get("done"), "done", asPair),
    erm: get("erm") === undefined ? dict() : asDict(get("erm"), "erm", asPair),
    fold: get("fold") === undefined ? [0, 0] : asPair(get("fold"), "fold"),
  };
}

export function decodeState(bytes: Uint8Array): KeyState {
  if (bytes.length < 2) throw bad("too short");
  const version = bytes[0];
  if (version === 3) return decodeV3(bytes.subarray(1));
  if (version === 2) return decodeV2(bytes.subarray(1));
  if (version === 1) return decodeV1(bytes.subarray(1));
  throw bad(`unknown format version ${version}; this node is older than the one that wrote it`);
}
