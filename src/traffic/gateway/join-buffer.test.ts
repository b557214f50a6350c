import assert from "node:assert/strict";
import { test } from "node:test";
import { responseJoinBytesMax } from "./constants.ts";
import { JoinBuffer } from "./join-buffer.ts";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

test("join buffer - a head and a slice of the body in one buffer, reused while not lent", () => {
  const j = new JoinBuffer();
  const one = j.join(b("HEAD\r\n"), b("xxbodyxx"), 2, 6);
  assert.equal(one.toString("latin1"), "HEAD\r\nbody");
  const two = j.join(b("HEAD\r\n"), b("BODY"), 0, 4);
  assert.equal(two, one, "same length: the same view");
  assert.equal(two.toString("latin1"), "HEAD\r\nBODY");
  const three = j.join(b("H\r\n"), b("longer body"), 0, 11);
  assert.equal(three.buffer, one.buffer, "the same storage");
  assert.equal(three.toString("latin1"), "H\r\nlonger body");
  const big = j.join(b("H\r\n"), Buffer.alloc(8000, 120), 0, 8000);
  assert.equal(big.length, 8003, "a larger response gets larger storage");
  assert.equal(big.toString("latin1", 0, 6), "H\r\nxxx");
});

test("join buffer - bytes a write still holds are never overwritten", () => {
  const j = new JoinBuffer();
  const held = j.join(b("HEAD\r\n"), b("first"), 0, 5);
  j.lend();
  const next = j.join(b("HEAD\r\n"), b("other"), 0, 5);
  assert.notEqual(next.buffer, held.buffer);
  assert.equal(held.toString("latin1"), "HEAD\r\nfirst");
  assert.equal(next.toString("latin1"), "HEAD\r\nother");
});

test("join buffer - only a small response is joined", () => {
  assert.equal(JoinBuffer.fits(Buffer.alloc(100), responseJoinBytesMax - 100), true);
  assert.equal(JoinBuffer.fits(Buffer.alloc(100), responseJoinBytesMax - 99), false);
});
