import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkedDecoder, filterTrailers } from "./chunked.ts";

/** Feeds `text` split at the given offsets; returns [end offset in the whole input, data]. */
function decode(text: string, splits: number[] = []): [number, string] {
  const buf = Buffer.from(text, "latin1");
  const d = new ChunkedDecoder();
  const cuts = [0, ...splits.filter((s) => s > 0 && s < buf.length).sort((a, b) => a - b), buf.length];
  let data = "";
  for (let i = 0; i + 1 < cuts.length; i++) {
    const r = d.feed(buf, cuts[i], cuts[i + 1], (b, s, e) => {
      data += b.toString("latin1", s, e);
    });
    if (r === -2) return [-2, d.error];
    if (r >= 0) return [r, data];
  }
  return [-1, data];
}

test("chunked - a body ends after the last chunk and trailers, at any split", () => {
  const body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
  const end = body.length - 4;
  for (let s = 0; s <= body.length; s++) {
    assert.deepEqual(decode(body, [s]), [end, "hello world"], `split at ${s}`);
  }
  assert.deepEqual(decode("0\r\n\r\n"), [5, ""]);
  assert.deepEqual(decode("A\r\n0123456789\r\n0\r\n\r\n"), [20, "0123456789"]);
  assert.deepEqual(decode("5\r\nhel"), [-1, "hel"]);
});

test("chunked - malformed framing is an error, never a guess", () => {
  for (const bad of [
    "5\nhello\r\n0\r\n\r\n",
    "5\r\nhello\n0\r\n\r\n",
    "5\r\nhelloX\r\n0\r\n\r\n",
    "g\r\n",
    " 5\r\nhello\r\n0\r\n\r\n",
    "5 \r\nhello\r\n0\r\n\r\n",
    "-5\r\n",
    "0x5\r\n",
    `${"f".repeat(13)}\r\n`,
    `5;${"e".repeat(300)}\r\n`,
    "5;a\u0000\r\n",
    "0\r\nX-T: a\nb\r\n\r\n",
    "0\r\n bad\r\n\r\n",
    "0\r\n\r\r",
    `0\r\nX: ${"v".repeat(5000)}\r\n\r\n`,
  ]) {
    assert.equal(decode(bad)[0], -2, JSON.stringify(bad));
  }
});

test("chunked - trailers are held and filtered: hop-by-hop, framing and RS-* names dropped", () => {
  assert.equal(
    filterTrailers("X-Sum: 1\r\nConnection: close\r\nRS-Error: x\r\ncontent-length: 3\r\nX-B: 2\r\n\r\n"),
    "X-Sum: 1\r\nX-B: 2\r\n\r\n",
  );
  const text = "2\r\nok\r\n0\r\nX-Sum: 1\r\nRS-Hop: a\r\n\r\n";
  for (let cut = 1; cut < text.length; cut++) {
    const buf = Buffer.from(text, "latin1");
    const d = new ChunkedDecoder();
    let out = "";
    for (const [s, e] of [
      [0, cut],
      [cut, buf.length],
    ]) {
      const r = d.feed(buf, s, e);
      const stop = r === -1 ? e : r;
      out += buf.toString("latin1", s, d.rawEnd(stop));
      out += d.filteredTrailers(stop) ?? "";
    }
    assert.equal(out, "2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n", `cut ${cut}`);
  }
  // No trailer fields: forwarded as it came, with no extra write.
  const plain = Buffer.from("2\r\nok\r\n0\r\n\r\n", "latin1");
  const d = new ChunkedDecoder();
  const r = d.feed(plain, 0, plain.length);
  assert.equal(d.rawEnd(r), plain.length);
  assert.equal(d.filteredTrailers(r), undefined);
});
