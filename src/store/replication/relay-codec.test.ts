// The relayed batch's wire form (relay-codec.ts): entries encoded once (deflated with the
// format's dictionary when smaller) and read back, fixtures of both formats as an earlier
// version wrote them, legs named by incarnation tags, and malformed input refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Packr } from "msgpackr";
import { isRedshirtError } from "../../core/index.ts";
import { applyMutation, decodeState, encodeState, read } from "../crdt/crdt.ts";
import {
  decodeRelayEntries,
  encodeLegs,
  encodeRelayEntries,
  entriesOfLeg,
  incarnationTag,
  parseLegs,
  type RelayEntry,
  type RelayLeg,
} from "./relay-codec.ts";

const h = 1_800_000_000_000 * 1024;
const put = (i: number): RelayEntry => {
  const d = applyMutation(
    undefined,
    { kind: "set", value: "x".repeat(100) },
    {
      opId: `op-${i}`,
      h: h + i,
      nowMs: 1_800_000_000_000,
    },
  ).delta;
  return [10 + i, `k${i}`, i, encodeState(d)];
};
const wireError = (err: unknown) => isRedshirtError(err, "RS_ERR_STORE_WIRE");
/** Payloads as plain byte arrays (a decoded one is a Buffer view). */
const plain = (entries: readonly RelayEntry[]) => entries.map(([s, k, p, b]) => [s, k, p, [...b]]);

// Written by the first version: three 100-byte register sets (format 1, deflated with
// dictionary 1), and one tiny entry (format 0, plain msgpack).
const fixtureDeflated =
  "AZs8hWtRtgHDkekoFoDSIkPjkvwCXST9iFx3M6WCDgASBNyLsg0Z0Z3HAnOeIcJ7DCww79HTeTyLso2Y0J3HAXOeEZLzOAbAeQA=";
const fixturePlain = "AJGUB6FhAMQDAQID";
// Written by version 2: the same three register sets in op shape (format 3, deflated).
const fixtureOps = "A5s8hWtRtgHD5CX5BboGUIUMDEfSbqZU0AFM4V6UbcgIttwQZjkL3SznWZRtxAS23AhmOQe9LAcA";

const mutated = (i: number, mutation: Parameters<typeof applyMutation>[1]): RelayEntry => [
  10 + i,
  `k${i}`,
  i,
  encodeState(applyMutation(undefined, mutation, { opId: `op-${i}`, h: h + i, nowMs: 1_800_000_000_000 }).delta),
];

test("relay codec - entries round-trip, deflated only when that is smaller", () => {
  const many = [put(0), put(1), put(2)];
  const blob = encodeRelayEntries(many);
  assert.equal(blob[0], 3, "format 3: puts in op shape, deflated");
  const raw = many.reduce((n, e) => n + e[3].length + e[1].length, 0);
  assert.ok(blob.length * 4 < raw, `${blob.length} bytes for ${raw} of keys and payloads`);
  assert.deepEqual(plain(decodeRelayEntries(blob)), plain(many));
  const tiny: RelayEntry[] = [[7, "a", 0, new Uint8Array([1, 2, 3])]];
  const small = encodeRelayEntries(tiny);
  assert.equal(small[0], 0, "format 0: too small to deflate");
  assert.deepEqual(plain(decodeRelayEntries(small)), plain(tiny));
  const counters = [mutated(0, { kind: "incr", by: 2 }), mutated(1, { kind: "incr", by: 3 })];
  assert.equal(encodeRelayEntries(counters)[0], 1, "no put: format 1");
  assert.deepEqual(plain(decodeRelayEntries(encodeRelayEntries(counters))), plain(counters));
});

test("relay codec - a put travels as its op and is rebuilt byte for byte; any other entry travels as logged", () => {
  const entries = [
    mutated(0, { kind: "set", value: "short" }),
    mutated(1, { kind: "incr", by: 5 }),
    mutated(2, { kind: "set", value: { __proto__: 1, b: [1, { a: null }], a: "é" } as unknown }),
    mutated(3, { kind: "set", value: "with a ttl", ttlS: 30 }),
    mutated(4, { kind: "sadd", members: ["m"] }),
    mutated(5, { kind: "set", value: 12.5 }),
  ];
  const blob = encodeRelayEntries(entries);
  assert.ok(blob[0] === 2 || blob[0] === 3, `format ${blob[0]}: op shape`);
  assert.deepEqual(plain(decodeRelayEntries(blob)), plain(entries), "every payload as logged");
  // Smaller than the same entries as logged, by more than the value bytes deflate could find.
  const logged = encodeRelayEntries(entries.slice(1, 2));
  assert.ok(logged[0] <= 1);
  const puts = [put(0), put(1), put(2), put(3)];
  const asOps = encodeRelayEntries(puts).length;
  const perEntry = puts.reduce((n, e) => n + e[3].length, 0) / puts.length;
  assert.ok(asOps / puts.length < perEntry / 4, `${asOps} bytes for 4 puts of ${perEntry} bytes each`);
});

test("relay codec - fixtures of both formats decode as they were written (the dictionary never changes)", () => {
  const deflated = decodeRelayEntries(new Uint8Array(Buffer.from(fixtureDeflated, "base64")));
  assert.deepEqual(
    deflated.map(([seq, key, partition]) => [seq, key, partition]),
    [
      [10, "k0", 0],
      [11, "k1", 1],
      [12, "k2", 2],
    ],
  );
  for (const [i, e] of deflated.entries()) {
    const state = decodeState(e[3]);
    assert.deepEqual(read(state, 0), { exists: true, type: "reg", value: "x".repeat(100) });
    assert.deepEqual(Object.keys(state!.ops), [`op-${i}`]);
  }
  assert.deepEqual(plain(decodeRelayEntries(new Uint8Array(Buffer.from(fixturePlain, "base64")))), [
    [7, "a", 0, [1, 2, 3]],
  ]);
  const ops = decodeRelayEntries(new Uint8Array(Buffer.from(fixtureOps, "base64")));
  assert.deepEqual(plain(ops), plain(deflated), "format 3 rebuilds the payloads format 1 carried");
});

test("relay codec - malformed entries are refused with RS_ERR_STORE_WIRE", () => {
  const good = encodeRelayEntries([put(0), put(1)]);
  assert.throws(() => decodeRelayEntries(new Uint8Array([9, 0x90])), wireError, "an unknown format");
  assert.throws(() => decodeRelayEntries(new Uint8Array([1, 0xff, 0xff, 0xff])), wireError, "not deflate");
  assert.throws(() => decodeRelayEntries("bytes"), wireError);
  assert.throws(() => decodeRelayEntries(new Uint8Array([0])), wireError, "no body");
  const outOfOrder = encodeRelayEntries([put(1), put(0)]);
  assert.throws(() => decodeRelayEntries(outOfOrder), wireError, "entries out of seq order");
  const shaped = (op: unknown[]) => {
    const body = new Packr({ useRecords: false, int64AsType: "number", mapsAsObjects: true }).pack([[1, "k", 0, op]]);
    return new Uint8Array([2, ...body]);
  };
  assert.throws(() => decodeRelayEntries(shaped(["op", 0, new Uint8Array([0xa1, 0x78])])), wireError, "h 0");
  assert.throws(() => decodeRelayEntries(shaped(["op", 5, "x"])), wireError, "a value that is not bytes");
  assert.throws(() => decodeRelayEntries(shaped(["op", 5, new Uint8Array([0xa5, 0x78])])), wireError, "not msgpack");
  assert.throws(() => decodeRelayEntries(shaped([1, 5, new Uint8Array([0xa1, 0x78])])), wireError, "opId");
  assert.equal(decodeRelayEntries(shaped(["op", 5, new Uint8Array([0xa1, 0x78])])).length, 1);
  assert.ok(decodeRelayEntries(good).length === 2);
});

test("relay codec - legs: the usual leg is [tag, back]; one of another range or selection says so", () => {
  const legs: RelayLeg[] = [
    { tag: 7, after: 10, upTo: 12, lh: h, cursor: 9, sel: null },
    { tag: 8, after: 10, upTo: 12, lh: h, cursor: 10, sel: null },
    { tag: 9, after: 5, upTo: 12, lh: h, cursor: 5, sel: [0, 2] },
  ];
  const wire = encodeLegs(legs);
  assert.deepEqual(wire.legs.slice(0, 2), [
    [7, 1],
    [8, 0],
  ]);
  assert.deepEqual(wire.legs[2], [9, 0, 5, 12, h, [0, 2]]);
  assert.deepEqual(parseLegs(wire.after, wire.upTo, wire.lh, wire.legs), legs);
  const entries = [put(0), put(1), put(2)]; // seqs 10, 11, 12
  assert.deepEqual(
    entriesOfLeg(entries, legs[0]).map((e) => e[0]),
    ["k1", "k2"],
    "every entry in (after, upTo]",
  );
  assert.deepEqual(
    entriesOfLeg(entries, legs[2]).map((e) => e[0]),
    ["k0", "k2"],
    "the selected ones",
  );
  assert.throws(() => entriesOfLeg(entries, { ...legs[2], after: 10 }), wireError, "a selection outside the range");
  assert.throws(() => parseLegs(10, 12, h, [[0, 1]]), wireError, "tag 0 names no incarnation");
  assert.throws(() => parseLegs(10, 12, h, [[7, 11]]), wireError, "a cursor before the log");
  assert.throws(() => parseLegs(12, 10, h, [[7, 0]]), wireError, "a range that ends before it starts");
  assert.throws(() => parseLegs(10, 12, h, []), wireError, "no legs");
  assert.notEqual(incarnationTag("0123456789abcdef"), incarnationTag("0123456789abcdee"));
  assert.equal(incarnationTag(undefined), 0);
});
