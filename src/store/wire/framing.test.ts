import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { isRedshirtError } from "../../core/index.ts";
import { frameBytesMax, frameHeaderBytes } from "../constants.ts";
import { decodeBody, encodeFrame, FrameDecoder } from "./framing.ts";

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** Splits bytes at the given cut points (any order, any count). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

const message = fc.array(
  fc.oneof(
    fc.string(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true }),
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string(), fc.integer())),
    fc.array(fc.string(), { maxLength: 4 }),
  ),
  { maxLength: 8 },
);

/** A comparable form: byte arrays of any class as lists of numbers, objects without prototypes. */
const plain = (v: unknown): unknown => {
  // msgpack has no negative zero integer: -0 travels as 0.
  if (Object.is(v, -0)) return 0;
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

test("framing - any messages, cut into any chunks, decode to the same messages in order", () => {
  fc.assert(
    fc.property(
      fc.array(message, { minLength: 1, maxLength: 10 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (msgs, cuts) => {
        const stream = Buffer.concat(msgs.map((m) => encodeFrame(m)));
        const decoder = new FrameDecoder();
        const out: unknown[] = [];
        for (const chunk of split(stream, cuts))
          assert.equal(
            decoder.push(chunk, (b) => out.push(b)),
            undefined,
          );
        assert.deepEqual(plain(out), plain(msgs));
        assert.equal(decoder.bufferedBytes, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test("framing - random bytes never make the decoder throw or hold more than the bound", () => {
  const bound = 1_000;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          message.map((m) => encodeFrame(m)),
          // A well-formed prefix around random bytes: the msgpack decoder itself gets fuzzed.
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.concat([u32(b.length), b])),
        ),
        { maxLength: 20 },
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      (pieces, cuts) => {
        const decoder = new FrameDecoder(bound);
        let firstError: unknown;
        for (const chunk of split(Buffer.concat(pieces), cuts)) {
          const err = decoder.push(chunk, () => {});
          assert.ok(decoder.bufferedBytes <= bound + frameHeaderBytes);
          if (firstError) assert.equal(err, firstError, "a corrupt stream stays corrupt");
          else if (err) {
            assert.ok(isRedshirtError(err, "RS_ERR_STORE_WIRE"));
            firstError = err;
          }
        }
      },
    ),
    { numRuns: 1_000 },
  );
});

test("framing - an announced length over the bound is refused before anything is allocated", () => {
  const decoder = new FrameDecoder();
  const err = decoder.push(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]), () => assert.fail("no frame"));
  assert.ok(isRedshirtError(err, "RS_ERR_STORE_WIRE"));
  assert.match(err.message, /announces 4294967295 bytes/);
  assert.equal(decoder.bufferedBytes, 0);
  const zero = new FrameDecoder();
  assert.ok(
    isRedshirtError(
      zero.push(Buffer.alloc(4), () => {}),
      "RS_ERR_STORE_WIRE",
    ),
  );
});

test("framing - frames before a corrupt one are delivered, nothing after it", () => {
  const decoder = new FrameDecoder();
  const out: unknown[] = [];
  const corrupt = Buffer.from([0, 0, 0, 2, 0x92, 0xc1]);
  const err = decoder.push(Buffer.concat([encodeFrame(["a"]), corrupt, encodeFrame(["b"])]), (b) => out.push(b));
  // 0xc1 is "never used" in msgpack, but an array with one element missing is truncated.
  assert.ok(isRedshirtError(err, "RS_ERR_STORE_WIRE"));
  assert.deepEqual(out, [["a"]]);
});

test("framing - encoding a message over the bound fails with RS_ERR_STORE_WIRE", () => {
  assert.throws(
    () => encodeFrame([new Uint8Array(frameBytesMax)]),
    (err) => isRedshirtError(err, "RS_ERR_STORE_WIRE"),
  );
  assert.equal(encodeFrame([new Uint8Array(100)], 200).length, frameHeaderBytes + 103);
  assert.throws(() => encodeFrame([new Uint8Array(300)], 200), /over the 200-byte bound/);
});

// Wire format fixture: a message as every version so far writes it. A change that breaks it
// breaks mixed clusters during a rolling upgrade. (The handshake's fixtures are in
// handshake.test.ts.)
const fixtures = {
  message: "0000001394a3707574cb431955bafc200000c402010201",
};

test("framing - the message fixture decodes, and encodes to the same bytes", () => {
  const msg = ["put", 1_782_784_000_000_000, new Uint8Array([1, 2]), 1];
  assert.equal(encodeFrame(msg).toString("hex"), fixtures.message);
  assert.deepEqual(plain(decodeBody(Buffer.from(fixtures.message, "hex").subarray(frameHeaderBytes))), plain(msg));
});
