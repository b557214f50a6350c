import assert from "node:assert/strict";
import { test } from "node:test";
import { headMemoBytesMax } from "./constants.ts";
import { HeadMemo } from "./head-memo.ts";

test("a head memo answers only for the very same bytes, wherever they sit in the buffer", () => {
  const memo = new HeadMemo<{ n: number }>();
  const a = Buffer.from("xxGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  assert.equal(memo.match(a, 2), 0);
  const parsed = { n: 1 };
  memo.set(a, 2, a.length, parsed);
  const n = a.length - 2;
  // The source buffer is reused for other bytes: the memo kept its own copy.
  const again = Buffer.from("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /");
  a.fill(0);
  assert.equal(memo.match(again, 0), n, "the same bytes, with more after them");
  assert.equal(memo.head, parsed);
  const other = Buffer.from("GET / HTTP/1.1\r\nHost: i\r\n\r\n");
  assert.equal(memo.match(other, 0), 0, "one byte differs");
  assert.equal(memo.match(again.subarray(0, n - 1), 0), 0, "only a part of it");
  const long = Buffer.concat([Buffer.from("\r\n"), again]);
  assert.equal(memo.match(long, 2), n, "at an offset");
});

test("a head memo does not keep heads over its size cap", () => {
  const memo = new HeadMemo<string>();
  const small = Buffer.from("HTTP/1.1 200 OK\r\n\r\n");
  memo.set(small, 0, small.length, "small");
  const big = Buffer.alloc(headMemoBytesMax + 1, 97);
  memo.set(big, 0, big.length, "big");
  assert.equal(memo.match(big, 0), 0);
  assert.equal(memo.match(small, 0), 0, "the earlier head is forgotten too");
});
