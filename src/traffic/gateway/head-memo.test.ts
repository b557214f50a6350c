import assert from "node:assert/strict";
import { test } from "node:test";
import { headMemoBytesMax } from "./constants.ts";
import { HeadMemo } from "./head-memo.ts";

test("a head memo answers only for the very same bytes, wherever they sit in the buffer", () => {
  const memo = new HeadMemo<{ n: number }>();
  const a = Buffer.from("xxGET / HTTP/1.1\r\nHost: h\r\n\r\n");
  assert.equal(memo.get(a, 2, a.length), null);
  const parsed = { n: 1 };
  memo.set(a, 2, a.length, parsed);
  // The source buffer is reused for other bytes: the memo kept its own copy.
  const again = Buffer.from("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /");
  a.fill(0);
  assert.equal(memo.get(again, 0, again.length - 5), parsed);
  const other = Buffer.from("GET / HTTP/1.1\r\nHost: i\r\n\r\n");
  assert.equal(memo.get(other, 0, other.length), null, "one byte differs");
  assert.equal(memo.get(again, 0, again.length - 6), null, "a different length");
});

test("a head memo does not keep heads over its size cap", () => {
  const memo = new HeadMemo<string>();
  const small = Buffer.from("HTTP/1.1 200 OK\r\n\r\n");
  memo.set(small, 0, small.length, "small");
  const big = Buffer.alloc(headMemoBytesMax + 1, 97);
  memo.set(big, 0, big.length, "big");
  assert.equal(memo.get(big, 0, big.length), null);
  assert.equal(memo.get(small, 0, small.length), null, "the earlier head is forgotten too");
});
