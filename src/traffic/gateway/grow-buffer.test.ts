import assert from "node:assert/strict";
import { test } from "node:test";
import { GrowBuffer } from "./grow-buffer.ts";

test("grow-buffer - bytes appended one at a time come out whole, and views handed out earlier stay intact", () => {
  const g = new GrowBuffer();
  let view: Buffer | null = null;
  const earlier: Array<[Buffer, string]> = [];
  let expected = "";
  for (let i = 0; i < 20_000; i++) {
    const c = String.fromCharCode(97 + (i % 26));
    view = g.append(view, Buffer.from(c, "latin1"));
    expected += c;
    if (i % 997 === 0) earlier.push([view, expected]);
    // Consume a prefix now and then, as a reader of pipelined requests does.
    if (i % 4_001 === 4_000) {
      view = view.subarray(100);
      expected = expected.slice(100);
    }
  }
  assert.equal(view?.toString("latin1"), expected);
  for (const [v, text] of earlier) assert.equal(v.toString("latin1"), text, "a view is never overwritten");
  assert.equal(g.append(null, Buffer.from("x")).toString(), "x");
});
