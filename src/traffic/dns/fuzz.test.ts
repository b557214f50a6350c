// The packet handler against hostile input: fast-check properties over structured queries
// (random headers, labels with any bytes, OPT records with random options, then cut and
// bit-flipped) and over raw bytes, and a seeded raw-byte mutation loop. Each runs for a
// time budget (RS_FUZZ_MS, default 1500 ms each). The handler must never throw, and what
// it sends must be a well-formed response to that query.
import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import fc from "fast-check";
import { seededRandom } from "../../core/index.ts";
import { udpPayloadBytesAdvertised } from "./constants.ts";
import { buildLocator } from "./locate.ts";
import { type AnswerState, type HandleContext, handleQuery } from "./message.ts";
import { Ranker } from "./ranking.ts";
import { buildQuery, testPlanet } from "./testing.ts";
import { buildZone } from "./zone.ts";

const budgetMs = Number(process.env.RS_FUZZ_MS ?? 1500);
const planet = testPlanet(120);
const state: AnswerState = { zone: buildZone(planet), ranker: new Ranker(planet, buildLocator(planet)) };

function check(input: Buffer, transport: HandleContext["transport"]): void {
  const r = handleQuery(input, { transport, sourceAddress: "10.3.1.1" }, state);
  if (!r.response) {
    // Silence is only for what cannot be answered: no full header, or itself a response.
    assert.ok(input.length < 12 || (input[2] & 0x80) !== 0, `dropped a query: ${input.toString("hex")}`);
    return;
  }
  const out = r.response;
  assert.ok(out.length >= 12);
  assert.equal(out.readUInt16BE(0), input.readUInt16BE(0), "id echoed");
  assert.ok((out[2] & 0x80) !== 0, "QR set");
  if (transport === "udp") assert.ok(out.length <= udpPayloadBytesAdvertised, "fits UDP");
  const decoded = dnsPacket.decode(out);
  assert.ok(decoded.questions!.length <= 1);
}

const label = fc.oneof(
  fc.constantFrom("www", "shop", "WWW", "ns1", "gslb", "test", "nope", "", "a.b"),
  fc.uint8Array({ minLength: 0, maxLength: 70 }).map((b) => Buffer.from(b).toString("latin1")),
);

function rawName(labels: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of labels) {
    const b = Buffer.from(l, "latin1");
    parts.push(Buffer.from([Math.min(b.length, 255)]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

const option = fc.record({ code: fc.constantFrom(8, 8, 10, 12, 3, 65001), data: fc.uint8Array({ maxLength: 24 }) });
const optRecord = fc
  .record({
    size: fc.integer({ min: 0, max: 65535 }),
    version: fc.constantFrom(0, 0, 1),
    flags: fc.integer({ min: 0, max: 65535 }),
    options: fc.array(option, { maxLength: 3 }),
  })
  .map(({ size, version, flags, options }) => {
    const rdata = Buffer.concat(
      options.map((o) => {
        const h = Buffer.alloc(4);
        h.writeUInt16BE(o.code, 0);
        h.writeUInt16BE(o.data.length, 2);
        return Buffer.concat([h, Buffer.from(o.data)]);
      }),
    );
    const rr = Buffer.alloc(11);
    rr[0] = 0;
    rr.writeUInt16BE(41, 1);
    rr.writeUInt16BE(size, 3);
    rr[6] = 0;
    rr[7] = version;
    rr.writeUInt16BE(flags, 8);
    return Buffer.concat([rr.subarray(0, 11), Buffer.from([rdata.length >> 8, rdata.length & 255]), rdata]);
  });

const structured = fc
  .record({
    id: fc.integer({ min: 0, max: 65535 }),
    flags: fc.oneof(fc.constant(0x0100), fc.integer({ min: 0, max: 65535 })),
    qdcount: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 3 })),
    labels: fc.array(label, { maxLength: 6 }),
    qtype: fc.oneof(fc.constantFrom(1, 2, 6, 28, 41, 251, 252, 255), fc.integer({ min: 0, max: 65535 })),
    qclass: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 65535 })),
    opts: fc.array(optRecord, { maxLength: 2 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
    flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  })
  .map((q) => {
    const header = Buffer.alloc(12);
    header.writeUInt16BE(q.id, 0);
    header.writeUInt16BE(q.flags, 2);
    header.writeUInt16BE(q.qdcount, 4);
    header.writeUInt16BE(q.opts.length, 10);
    const tail = Buffer.alloc(4);
    tail.writeUInt16BE(q.qtype, 0);
    tail.writeUInt16BE(q.qclass, 2);
    let buf = Buffer.concat([header, rawName(q.labels), tail, ...q.opts]);
    for (const [at, v] of q.flips) if (buf.length > 0) buf[at % buf.length] = v;
    if (q.cut !== undefined) buf = buf.subarray(0, q.cut % (buf.length + 1));
    return buf;
  });

test("fuzz - structured hostile queries never crash the handler and get well-formed answers", () => {
  fc.assert(
    fc.property(structured, fc.constantFrom<"udp" | "tcp">("udp", "tcp"), (buf, transport) => check(buf, transport)),
    { numRuns: 1_000_000, interruptAfterTimeLimit: budgetMs },
  );
});

test("fuzz - raw random bytes never crash the handler", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), (bytes) => check(Buffer.from(bytes), "udp")),
    { numRuns: 1_000_000, interruptAfterTimeLimit: budgetMs },
  );
});

test("fuzz - seeded mutations of valid queries never crash the handler", () => {
  const random = seededRandom(Number(process.env.RS_FUZZ_SEED ?? 20261126));
  const seeds = [
    buildQuery({ name: "www.gslb.test" }),
    buildQuery({ name: "shop.gslb.test", edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } }),
    buildQuery({ name: "gslb.test", type: "NS", edns: { do: true } }),
    buildQuery({ name: "nope.gslb.test", type: "AAAA", edns: { udpPayloadSize: 512 } }),
  ];
  const endMs = performance.now() + budgetMs;
  let runs = 0;
  while (performance.now() < endMs) {
    for (let i = 0; i < 200; i++, runs++) {
      const buf = Buffer.from(seeds[random.int(seeds.length)]);
      const edits = 1 + random.int(4);
      for (let e = 0; e < edits; e++) buf[random.int(buf.length)] = random.int(256);
      const cut = random.next() < 0.2 ? random.int(buf.length + 1) : buf.length;
      check(buf.subarray(0, cut), random.next() < 0.5 ? "udp" : "tcp");
    }
  }
  assert.ok(runs > 1000, `only ${runs} runs in ${budgetMs} ms`);
});
