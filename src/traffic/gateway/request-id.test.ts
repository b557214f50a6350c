import assert from "node:assert/strict";
import { test } from "node:test";
import { nextRequestId, requestIds } from "./request-id.ts";

const uuidShape = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("request ids are UUID-shaped and never repeat", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 50_000; i++) {
    const id = nextRequestId();
    assert.match(id, uuidShape);
    seen.add(id);
  }
  assert.equal(seen.size, 50_000);
});

test("request ids count on across the low digits' rollover, and draw a new UUID when the counter is spent", () => {
  const low = requestIds(2 ** 24 - 2);
  const a = [low(), low(), low(), low()];
  assert.deepEqual(
    a.map((id) => id.slice(24)),
    ["000000fffffe", "000000ffffff", "000001000000", "000001000001"],
  );
  const end = requestIds(2 ** 48 - 1);
  const last = end();
  const fresh = end();
  assert.equal(last.slice(24), "ffffffffffff");
  assert.match(fresh, uuidShape);
  assert.notEqual(fresh.slice(0, 24), last.slice(0, 24), "a new UUID after 2^48 ids");
});
