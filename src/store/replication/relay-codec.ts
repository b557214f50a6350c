// How a coordinator's stream batches for a remote site travel through that site's relay
// (relay-out.ts sends them, relay-in.ts takes them apart): one message per batch and site,
// ["rel", after, upTo, lh, legs, entries], instead of one "rep" per replica; the relay
// passes it on as ["frel", coordinator, after, upTo, lh, legs, entries].
//
// - `entries` is the batch's log entries encoded once, for every leg and for every remote
//   site that gets the same entries: a format byte, then the msgpack array of
//   [seq, key, partition, payload] in seq order — deflated (raw deflate with the preset
//   dictionary below) when that is smaller. null when no leg carries an entry (heartbeats).
//   Formats 2 and 3 (plain, deflated): an entry whose payload is one register set (a put)
//   carries [opId, h, value] in the payload's place (crdt/op-shape.ts), from which the
//   receiver rebuilds the logged payload byte for byte — the encoder checks that it does.
// - a leg is one replica's stream batch, named by the tag of the replica's incarnation (the
//   coordinator's view of it: a node takes only the leg of its own incarnation, and the
//   relay finds each site-mate by the tag it knows for it): [tag, back] when the batch is
//   the message's (after, upTo, lh) with every entry in that range the replica's (the usual
//   case: every node of the site replicates every partition), else
//   [tag, back, after, upTo, lh, sel] with `sel` the indexes of its entries (null: all in
//   its range). `back` is how far the coordinator's acknowledged cursor for the replica lies
//   behind the leg's `after`. Tags rather than node ids: a leg is 7 bytes, not 20.
//
// Format 1's dictionary is part of the wire format: never change it; a new one is format 2.
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { Packr } from "msgpackr";
import { decodeState, encodeState, type SetOp, setOpDelta, setOpOf } from "../crdt/crdt.ts";
import { murmur3 } from "../crdt/hash.ts";
import { storageErrors } from "../storage-errors.ts";
import type { RepEntry } from "./outbound-stream.ts";

/**
 * The relay protocol of this file, announced with a node's incarnation (a node that
 * announces none, or another version, speaks none: its streams go direct). 2: formats 2 and 3.
 */
export const relayVersion = 2;

/** One log entry in a relayed batch. */
export type RelayEntry = readonly [seq: number, key: string, partition: number, payload: Uint8Array];

/** One replica's part of a relayed batch, as a direct "rep" would carry it, plus its tag and the coordinator's cursor for it. */
export type RelayLeg = {
  readonly tag: number;
  readonly after: number;
  readonly upTo: number;
  readonly lh: number;
  readonly cursor: number;
  /** Indexes of its entries; null: every entry with after < seq <= upTo. */
  readonly sel: readonly number[] | null;
};

/** A relayed batch's range (its first leg's) and its legs in wire form. */
export type EncodedLegs = {
  readonly after: number;
  readonly upTo: number;
  readonly lh: number;
  readonly legs: readonly (readonly unknown[])[];
};

/** Entries encoded as plain msgpack. */
const formatPlain = 0;
/** Entries deflated (raw) with dictionary 1. */
const formatDeflate1 = 1;
/** Entries with set ops in op shape, plain msgpack. */
const formatOps = 2;
/** Entries with set ops in op shape, deflated (raw) with dictionary 1. */
const formatOpsDeflate1 = 3;
/** Batches smaller than this are not worth a deflate. */
export const relayDeflateBytesMin = 96;
/** zlib level: 1 compresses these batches as well as 6 (measured: within 1 byte per entry) in half the time. */
const deflateLevel = 1;
/** An entries blob never inflates past this (a frame's bound: nothing larger was ever encoded). */
const inflatedBytesMax = 8_388_608;

// As the frames' packer: no records, 64-bit integers as numbers. Byte strings decode as views.
const packr = new Packr({ useRecords: false, int64AsType: "number", mapsAsObjects: true });

/**
 * Dictionary 1: sample entries of every op kind (a TTL'd set, del, mdel, srem, mincr, mset,
 * sadd, incr, a set of an object, a set of a string: the most common last, where deflate
 * reaches it most cheaply), as applyMutation and encodeState made them once (a test pins its
 * hash). Measured on batches of 100-byte register sets: 1 entry 172 bytes raw, 72 deflated
 * alone, 18 with it; 10 entries 29 → 20 bytes each.
 */
const dictionary1 = Buffer.from(
  "mpTNA/Gja2V5AcRYApujcmVny0MaMYXFAAAAAAAAgdkkMGYxZTJkM2MtNGI1YS02OTc4LTg3OTYtYTViNGMzZDJlMWYwg6Foy0MaMYXFAAAAoWujc2V0oXaldmFsdWWAgAAAgJTNA+ija2V5AcRJApujcmVnAMtDGjGFxQAPoAAAgICAAACB2SQwZjFlMmQzYy00YjVhLTY5NzgtODc5Ni1hNWI0YzNkMmUxZjCSy0MaMYXFAA+gAJTNA+mja2V5AcRQApujbWFwAAAAAICAgaVmaWVsZMtDGjGFxQAPpACAgdkkMGYxZTJkM2MtNGI1YS02OTc4LTg3OTYtYTViNGMzZDJlMWYwkstDGjGFxQAPpACUzQPqo2tleQHEEAKbo3NldAAAAACAgIAAAICUzQPro2tleQHEXgKbo21hcMtDGjGFxQAPrAAAAIHZJjBmMWUyZDNjLTRiNWEtNjk3OC04Nzk2LWE1YjRjM2QyZTFmMAAwhKFkAaFmpWZpZWxkoWjLQxoxhcUAD6yha6RmYWRkgIAAgICUzQPso2tleQHEYwKbo21hcMtDGjGFxQAPsAAAAIHZJjBmMWUyZDNjLTRiNWEtNjk3OC04Nzk2LWE1YjRjM2QyZTFmMAAwhKFmpWZpZWxkoWjLQxoxhcUAD7Cha6Rmc2V0oXaldmFsdWWAgACAgJTNA+2ja2V5AcRcApujc2V0y0MaMYXFAA+0AAAAgdkmMGYxZTJkM2MtNGI1YS02OTc4LTg3OTYtYTViNGMzZDJlMWYwADCDoWWmbWVtYmVyoWjLQxoxhcUAD7Sha6RzYWRkgIAAAICUzQPuo2tleQHEVwKbp2NvdW50ZXLLQxoxhcUAD7gAAACB2SQwZjFlMmQzYy00YjVhLTY5NzgtODc5Ni1hNWI0YzNkMmUxZjCDoWQBoWjLQxoxhcUAD7iha6NhZGSAgAAAgJTNA++ja2V5AcReApujcmVny0MaMYXFAA+8AAAAgdkkMGYxZTJkM2MtNGI1YS02OTc4LTg3OTYtYTViNGMzZDJlMWYwg6Foy0MaMYXFAA+8oWujc2V0oXaBpHRleHSldmFsdWWAgAAAgJTNA/Cja2V5AcRYApujcmVny0MaMYXFAA/AAAAAgdkkMGYxZTJkM2MtNGI1YS02OTc4LTg3OTYtYTViNGMzZDJlMWYwg6Foy0MaMYXFAA/AoWujc2V0oXaldmFsdWWAgAAAgA==",
  "base64",
);

function bad(what: string): Error {
  return storageErrors.create("RS_ERR_STORE_WIRE", `relayed batch: ${what}`);
}

/** The entries of a batch, encoded once for every leg and site (puts in op shape; deflated when that is smaller). */
export function encodeRelayEntries(entries: readonly RelayEntry[]): Uint8Array {
  let shaped = false;
  const wire = entries.map((e): readonly unknown[] => {
    const op = opShapeOf(e[3]);
    if (op === undefined) return e;
    shaped = true;
    return [e[0], e[1], e[2], op];
  });
  const body = packr.pack(shaped ? wire : entries);
  if (body.length >= relayDeflateBytesMin) {
    const deflated = deflateRawSync(body, { level: deflateLevel, dictionary: dictionary1 });
    if (deflated.length < body.length) return withFormat(shaped ? formatOpsDeflate1 : formatDeflate1, deflated);
  }
  return withFormat(shaped ? formatOps : formatPlain, body);
}

/** The set op a payload is, when rebuilding it from the op gives the very same bytes. */
function opShapeOf(payload: Uint8Array): SetOp | undefined {
  let op: SetOp | undefined;
  try {
    op = setOpOf(decodeState(payload));
  } catch {
    return undefined; // not a state this version reads: it travels as it is
  }
  if (op === undefined) return undefined;
  const rebuilt = encodeState(setOpDelta(op[0], op[1], op[2]));
  return Buffer.compare(rebuilt, payload) === 0 ? op : undefined;
}

/** A payload rebuilt from its op shape; throws RS_ERR_STORE_WIRE for anything but [opId, h, value bytes]. */
function payloadOfOp(x: readonly unknown[]): Uint8Array {
  const [opId, h, value] = x;
  if (x.length !== 3 || typeof opId !== "string" || !Number.isSafeInteger(h) || (h as number) <= 0) {
    throw bad("an op-shaped entry is not [opId, h, value]");
  }
  if (!(value instanceof Uint8Array)) throw bad("an op-shaped entry's value is not bytes");
  try {
    return encodeState(setOpDelta(opId, h as number, value));
  } catch (cause) {
    throw storageErrors.create("RS_ERR_STORE_WIRE", "relayed batch: an op-shaped entry does not rebuild", { cause });
  }
}

function withFormat(format: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 1);
  out[0] = format;
  out.set(body, 1);
  return out;
}

/** The entries of a relayed batch; throws RS_ERR_STORE_WIRE for anything but a well-formed list. */
export function decodeRelayEntries(blob: unknown): RelayEntry[] {
  if (!(blob instanceof Uint8Array) || blob.length < 1) throw bad("the entries are not bytes");
  let body: Uint8Array;
  const format = blob[0];
  const shaped = format === formatOps || format === formatOpsDeflate1;
  if (format === formatPlain || format === formatOps) body = blob.subarray(1);
  else if (format === formatDeflate1 || format === formatOpsDeflate1) {
    try {
      body = inflateRawSync(blob.subarray(1), { dictionary: dictionary1, maxOutputLength: inflatedBytesMax });
    } catch (cause) {
      throw storageErrors.create("RS_ERR_STORE_WIRE", "relayed batch: the entries do not inflate", { cause });
    }
  } else throw bad(`unknown entries format ${blob[0]}`);
  let list: unknown;
  try {
    list = packr.unpack(body);
  } catch (cause) {
    throw storageErrors.create("RS_ERR_STORE_WIRE", "relayed batch: the entries are not msgpack", { cause });
  }
  if (!Array.isArray(list)) throw bad("the entries are not a list");
  let prevSeq = 0;
  for (const e of list) {
    if (!Array.isArray(e) || e.length !== 4) throw bad("an entry is not [seq, key, partition, payload]");
    const [seq, key, partition, payload] = e as unknown[];
    if (!Number.isSafeInteger(seq) || (seq as number) <= prevSeq) throw bad("entries are not in seq order");
    if (shaped && Array.isArray(payload)) e[3] = payloadOfOp(payload);
    else if (!(payload instanceof Uint8Array)) throw bad("an entry is not [seq, key, partition, payload]");
    if (typeof key !== "string" || !Number.isSafeInteger(partition)) {
      throw bad("an entry is not [seq, key, partition, payload]");
    }
    prevSeq = seq as number;
  }
  return list as RelayEntry[];
}

/** Legs in wire form, the first leg's range as the message's. */
export function encodeLegs(legs: readonly RelayLeg[]): EncodedLegs {
  const [first] = legs;
  const wire = legs.map((l) =>
    l.after === first.after && l.upTo === first.upTo && l.lh === first.lh && l.sel === null
      ? [l.tag, l.after - l.cursor]
      : [l.tag, l.after - l.cursor, l.after, l.upTo, l.lh, l.sel],
  );
  return { after: first.after, upTo: first.upTo, lh: first.lh, legs: wire };
}

const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** The legs of a relayed batch, checked (a peer's message is never trusted to be well formed). */
export function parseLegs(after: unknown, upTo: unknown, lh: unknown, wire: unknown): RelayLeg[] {
  if (!isCount(after) || !isCount(upTo) || !isCount(lh)) throw bad("the range is not [after, upTo, lh]");
  if (!Array.isArray(wire) || wire.length === 0 || wire.length > 1024) throw bad("the legs are not a list");
  return wire
    .map((leg: unknown): RelayLeg => {
      if (!Array.isArray(leg) || (leg.length !== 2 && leg.length !== 6)) throw bad("a leg is not [tag, back, …]");
      const [tag, back] = leg as unknown[];
      if (!isCount(tag) || tag === 0 || !isCount(back)) throw bad("a leg is not [tag, back, …]");
      if (leg.length === 2) return { tag, after, upTo, lh, cursor: after - back, sel: null };
      const [, , a, u, h, sel] = leg as unknown[];
      if (!isCount(a) || !isCount(u) || !isCount(h)) throw bad("a leg's range is not [after, upTo, lh]");
      if (sel !== null && !(Array.isArray(sel) && sel.every(isCount)))
        throw bad("a leg's selection is not a list of indexes");
      return { tag, after: a, upTo: u, lh: h, cursor: a - back, sel: sel as readonly number[] | null };
    })
    .map((l) => {
      if (l.upTo < l.after || l.cursor < 0) throw bad("a leg ends before it starts, or its cursor is before the log");
      return l;
    });
}

/** The entries that are one leg's, as a direct batch would carry them. */
export function entriesOfLeg(entries: readonly RelayEntry[], leg: RelayLeg): RepEntry[] {
  const { after, upTo, sel } = leg;
  const out: RepEntry[] = [];
  if (sel === null) {
    for (const [seq, key, partition, payload] of entries) {
      if (seq > after && seq <= upTo) out.push([key, partition, payload]);
    }
    return out;
  }
  for (const i of sel) {
    const e = entries[i];
    if (!e || e[0] <= after || e[0] > upTo) throw bad("a leg selects an entry outside its range");
    out.push([e[1], e[2], e[3]]);
  }
  return out;
}

/** The 32-bit tag of an incarnation id that legs carry (0: the coordinator does not know the peer's incarnation). */
export function incarnationTag(id: string | undefined): number {
  if (id === undefined) return 0;
  return murmur3(id, 0x1e1a) || 1;
}
