// Fuzzing the hand-written parsers (fast-check, time-budgeted). Two properties matter:
// they never throw, whatever the bytes; and whatever they accept, a lenient reader (one
// that takes a bare LF as a line end and trims around names, as some servers do) frames
// the same way — so nothing the gateway forwards can be read as a different request.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ChunkedDecoder } from "./chunked.ts";
import { findHeadEnd, parseRequestHead, parseResponseHead } from "./http-head.ts";

const budgetMs = 1500;
const runOptions = { numRuns: 1_000_000, interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false };

/** What a lenient reader sees as the framing fields of a head. */
function lenientFraming(head: string): { cl: string[]; te: string[] } {
  const cl: string[] = [];
  const te: string[] = [];
  const lines = head.split(/\r?\n|\r/).slice(1);
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") cl.push(value);
    if (name === "transfer-encoding") te.push(value);
  }
  return { cl, te };
}

/** Checks what must hold for every head the parser accepted. */
function checkAccepted(head: string): void {
  const r = parseRequestHead(head);
  if (!r.ok) {
    assert.ok([400, 414, 431, 501].includes(r.status));
    return;
  }
  const inner = head.slice(0, -4).replaceAll("\r\n", "");
  assert.ok(!inner.includes("\r") && !inner.includes("\n"), "accepted a bare CR or LF");
  const { cl, te } = lenientFraming(head);
  assert.ok(cl.length <= 1 && te.length <= 1 && !(cl.length === 1 && te.length === 1), "ambiguous framing accepted");
  if (cl.length === 1) assert.equal(r.contentLength, Number(cl[0]));
  else assert.equal(r.contentLength, -1);
  assert.equal(r.chunked, te.length === 1);
  if (te.length === 1) assert.equal(te[0].toLowerCase(), "chunked");
  assert.ok(r.minor === 0 || r.minor === 1);
  for (const f of r.fields) assert.ok(f.name.length > 0 && !/[\s:]/.test(f.name));
}

/** The head the gateway would parse from these bytes, if a complete one is there. */
function headOf(bytes: string): string | undefined {
  const end = findHeadEnd(Buffer.from(bytes, "latin1"), 0);
  return end > 0 ? bytes.slice(0, end) : undefined;
}

test("http-fuzz - arbitrary bytes never make the request parser throw or accept something ambiguous", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const text = `${Buffer.from(bytes).toString("latin1")}\r\n\r\n`;
      const head = headOf(text);
      if (head !== undefined) checkAccepted(head);
      parseResponseHead(text);
    }),
    runOptions,
  );
});

// Mostly well-formed pieces with a few tricky ones, so that heads with two framing fields
// that are each valid on their own come up often.
const mostly = (good: string[], tricky: string[]): fc.Arbitrary<string> =>
  fc.oneof({ arbitrary: fc.constantFrom(...good), weight: 5 }, { arbitrary: fc.constantFrom(...tricky), weight: 1 });
const nameArb = mostly(
  ["Content-Length", "content-length", "Transfer-Encoding", "transfer-encoding", "X-A", "Connection"],
  [
    "Content-Length ",
    " Content-Length",
    "Content-Length\t",
    " Transfer-Encoding",
    "Transfer-Encoding ",
    "Transfer_Encoding",
    "Host",
    "Upgrade",
    "",
  ],
);
const sepArb = mostly([":", ": "], [" : ", ":\t", "::"]);
const valueArb = mostly(
  ["5", "05", "0", "chunked", "Chunked", "close", "keep-alive, upgrade"],
  [
    "5, 5",
    "5,5",
    "-1",
    "+5",
    "",
    " chunked",
    "chunked ",
    "chunked, chunked",
    "gzip, chunked",
    "identity",
    "chunked\u000b",
    "x\u0000y",
    "content-length",
    "transfer-encoding",
    "websocket",
    "h",
  ],
);
const eolArb = mostly(["\r\n"], ["\n", "\r", "\r\n ", "\r\n\t"]);
const fieldArb = fc.tuple(nameArb, sepArb, valueArb, eolArb);
const headArb = fc
  .tuple(
    mostly(["GET", "POST", "PUT"], ["G ET", "GET\t"]),
    mostly(["/", "/a?b", "http://h/x"], ["*", "/ /"]),
    mostly(["HTTP/1.1", "HTTP/1.0"], ["HTTP/1.2", "HTTP/1.1 ", "HTTP/1.10"]),
    fc.array(fieldArb, { maxLength: 5 }),
    fc.boolean(),
  )
  .map(([m, t, v, fields, withHost]) => {
    let s = `${m} ${t} ${v}\r\n${withHost ? "Host: h\r\n" : ""}`;
    for (const [n, sep, val, eol] of fields) s += `${n}${sep}${val}${eol}`;
    return `${s}\r\n`;
  });

test("http-fuzz - generated heads with framing tricks are never accepted ambiguously", () => {
  let acceptedCount = 0;
  fc.assert(
    fc.property(headArb, (text) => {
      const head = headOf(text);
      if (head === undefined) return;
      if (parseRequestHead(head).ok) acceptedCount++;
      checkAccepted(head);
    }),
    runOptions,
  );
  // The generator must also reach heads the parser accepts, or the property proves nothing.
  assert.ok(acceptedCount > 0, "no generated head was accepted");
});

const chunkedArb = fc
  .tuple(
    fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom("", ";a=b", ";x")), { maxLength: 5 }),
    fc.constantFrom("", "X-T: 1\r\n", "A: b\r\nC: d\r\n"),
    fc.array(fc.nat({ max: 200 }), { maxLength: 4 }),
  )
  .map(([chunks, trailer, splits]) => {
    let body = "";
    let data = "";
    for (const [c, ext] of chunks) {
      const bytes = Buffer.from(c, "utf8").toString("latin1");
      body += `${bytes.length.toString(16)}${ext}\r\n${bytes}\r\n`;
      data += bytes;
    }
    body += `0\r\n${trailer}\r\n`;
    return { body, data, splits };
  });

test("http-fuzz - chunked decoding gives the same end and data however the bytes are split", () => {
  fc.assert(
    fc.property(chunkedArb, ({ body, data, splits }) => {
      const buf = Buffer.from(`${body}NEXT`, "latin1");
      const d = new ChunkedDecoder();
      const cuts = [0, ...splits.filter((s) => s < buf.length).sort((a, b) => a - b), buf.length];
      let got = "";
      let end = -1;
      for (let i = 0; i + 1 < cuts.length && end < 0; i++) {
        end = d.feed(buf, cuts[i], cuts[i + 1], (b, s, e) => {
          got += b.toString("latin1", s, e);
        });
        assert.notEqual(end, -2, d.error);
      }
      assert.equal(end, body.length);
      assert.equal(got, data);
    }),
    runOptions,
  );
});

test("http-fuzz - arbitrary bytes never make the chunked decoder throw or run past its input", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat({ max: 200 }), (bytes, cut) => {
      const buf = Buffer.from(bytes);
      const d = new ChunkedDecoder();
      const c = Math.min(cut, buf.length);
      const r1 = d.feed(buf, 0, c);
      assert.ok(r1 === -1 || r1 === -2 || (r1 > 0 && r1 <= c));
      if (r1 === -1) {
        const r2 = d.feed(buf, c, buf.length);
        assert.ok(r2 === -1 || r2 === -2 || (r2 > c && r2 <= buf.length));
      }
    }),
    runOptions,
  );
});
