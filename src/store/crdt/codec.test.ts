import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { isRedshirtError } from "../../core/index.ts";
import { type Action, Sim } from "../testkit/crdt-sim.ts";
import { decodeState, digest, encodeState, type KeyState, read } from "./crdt.ts";

const d = <V>(o: Record<string, V>): Record<string, V> => Object.assign(Object.create(null), o);

// A map state that uses every field: a field write with a nested value, increments, a
// compacted base, a field clear, a pending expiry with its marker, dedup ids and a client
// field named __proto__.
const v1: KeyState = {
  t: "map",
  th: 1_782_579_200_000_512,
  del: 1_782_579_200_000_000,
  exp: 1_740_800_060_000,
  eh: 1_782_579_200_000_512,
  ops: d({
    "w1\u00000": {
      h: 1_782_579_200_000_300,
      k: "fset",
      f: "name",
      v: { first: "Ann", tags: ["a", 1, null, true, 2.5] },
    },
    "i9\u00000": { h: 1_782_579_200_000_512, k: "fadd", f: "apple", d: -2 },
    x: { h: 1_782_579_200_000_400, k: "fset", f: "__proto__", v: "p" },
  }),
  rm: d({}),
  fdel: d({ pear: 1_782_579_200_000_450 }),
  cut: 1_782_579_200_000_200,
  base: d({ apple: 5 }),
  done: d({
    old: [1_782_579_200_000_100, 1_782_579_200_000_150] as [number, number],
    "\u00001782579200000512\u00001740800060000": [1_782_579_200_000_512, 0] as [number, number],
  }),
  erm: d({}),
  fold: [0, 0],
};

// A set state with what only version 3 can say: an element removal (every add of "b" up to
// its threshold) and a fold point.
const v3: KeyState = {
  t: "set",
  th: 1_782_579_200_000_900,
  del: 0,
  exp: 0,
  eh: 0,
  ops: d({
    "a1\u00000": { h: 1_782_579_200_000_700, k: "sadd", e: "a" },
    "a2\u00000": { h: 1_782_579_200_000_900, k: "sadd", e: "a" },
  }),
  rm: d({ "b5\u00000": 1_782_579_200_000_950 }),
  fdel: d({}),
  cut: 0,
  base: 0,
  done: d({ "b5\u00000": [1_782_579_200_000_500, 0] as [number, number] }),
  erm: d({ b: [1_782_579_200_000_600, 1_782_579_200_000_950] as [number, number] }),
  fold: [1_782_579_200_000_600, 1_782_579_200_000_800],
};

const fixtureV1 = new URL("./fixtures/keystate-v1.bin", import.meta.url);
const fixtureV2 = new URL("./fixtures/keystate-v2.bin", import.meta.url);
const fixtureV3 = new URL("./fixtures/keystate-v3.bin", import.meta.url);

function readsAsWritten(decoded: KeyState): void {
  assert.deepEqual(decoded, v1);
  assert.deepEqual(read(decoded, 1_740_800_000_000), {
    exists: true,
    type: "map",
    value: Object.defineProperty({ apple: 3, name: { first: "Ann", tags: ["a", 1, null, true, 2.5] } }, "__proto__", {
      value: "p",
      enumerable: true,
      writable: true,
      configurable: true,
    }),
  });
}

test("codec - the version 2 fixture decodes to the state it was written from, and encodes to the same bytes", () => {
  if (process.env.UPDATE_FIXTURES === "1") writeFileSync(fixtureV2, encodeState(v1));
  const bytes = new Uint8Array(readFileSync(fixtureV2));
  assert.equal(bytes[0], 2, "format version byte");
  const decoded = decodeState(bytes);
  readsAsWritten(decoded);
  assert.deepEqual(Buffer.from(encodeState(decoded)), Buffer.from(bytes));
});

test("codec - the version 3 fixture (a set's element removals and fold point) decodes to the state it was written from, and encodes to the same bytes", () => {
  if (process.env.UPDATE_FIXTURES === "1") writeFileSync(fixtureV3, encodeState(v3));
  const bytes = new Uint8Array(readFileSync(fixtureV3));
  assert.equal(bytes[0], 3, "format version byte");
  const decoded = decodeState(bytes);
  assert.deepEqual(decoded, v3);
  assert.deepEqual(read(decoded, 1_782_579_200), { exists: true, type: "set", value: ["a"] });
  assert.deepEqual(Buffer.from(encodeState(decoded)), Buffer.from(bytes));
  const without = { ...v3, erm: d<[number, number]>({}), fold: [0, 0] as [number, number] };
  assert.equal(encodeState(without)[0], 2, "a state that needs nothing of version 3 is written as version 2");
  assert.deepEqual(decodeState(encodeState(without)), without);
});

test("codec - the version 1 fixture (field names) still decodes to the state it was written from, and is written again as version 2", () => {
  const bytes = new Uint8Array(readFileSync(fixtureV1));
  assert.equal(bytes[0], 1, "format version byte");
  const decoded = decodeState(bytes);
  readsAsWritten(decoded);
  assert.deepEqual(Buffer.from(encodeState(decoded)), Buffer.from(readFileSync(fixtureV2)));
  assert.ok(readFileSync(fixtureV2).length < bytes.length, "version 2 is the shorter");
});

test("codec - states of random histories survive encoding, with equal bytes and digests", () => {
  const actionArb: fc.Arbitrary<Action> = fc.oneof(
    fc.record({
      a: fc.constant("mut" as const),
      node: fc.nat(3),
      pick: fc.nat(63),
      arg: fc.nat(63),
      ttl: fc.nat(31),
      retry: fc.nat(31),
    }),
    fc.record({ a: fc.constant("deliver" as const), node: fc.nat(3), pick: fc.nat(31) }),
    fc.record({ a: fc.constant("compact" as const), node: fc.nat(3) }),
  );
  fc.assert(
    fc.property(fc.array(actionArb, { maxLength: 40, size: "max" }), (actions) => {
      const sim = new Sim("mixed", [0, 300, -200]);
      sim.run(actions);
      for (const s of [sim.reference, ...sim.nodes.map((n) => n.state), ...sim.sent.map((x) => x.delta)]) {
        if (!s) continue;
        const bytes = encodeState(s);
        const back = decodeState(bytes);
        assert.deepEqual(back, s);
        assert.deepEqual(Buffer.from(encodeState(back)), Buffer.from(bytes));
        assert.equal(digest(back), digest(s));
      }
    }),
    { seed: 5, numRuns: 10_000, interruptAfterTimeLimit: 1000, markInterruptAsFailure: false },
  );
});

test("codec - unknown versions and garbage are refused with RS_ERR_STORE_BAD_REQUEST", () => {
  const good = encodeState(v1);
  const newer = Uint8Array.from(good);
  newer[0] = 4;
  const shortV3 = Uint8Array.from(good);
  shortV3[0] = 3;
  for (const bad of [
    newer,
    shortV3,
    new Uint8Array([1]),
    Uint8Array.from([1, 0xc1, 0xc1]),
    Uint8Array.from([1, 0x93, 1, 2, 3]),
    Uint8Array.from([2, 0x93, 1, 2, 3]),
    Uint8Array.from([2, 0x81, 0xa1, 0x74, 1]),
  ]) {
    assert.throws(
      () => decodeState(bad),
      (e: unknown) => isRedshirtError(e, "RS_ERR_STORE_BAD_REQUEST"),
    );
  }
});
