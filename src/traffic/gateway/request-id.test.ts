import assert from "node:assert/strict";
import { test } from "node:test";
import { nextRequestId, RequestIds, requestIdLength, requestIds } from "./request-id.ts";

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

test("request ids written into bytes go on the same count as the ones given as text, rollovers included", () => {
  const ids = new RequestIds(2 ** 24 - 2);
  const buf = Buffer.alloc(requestIdLength + 4, "x");
  const got: string[] = [];
  for (let i = 0; i < 4; i++) {
    if (i % 2 === 0) {
      got.push(ids.next());
    } else {
      ids.write(buf, 2);
      got.push(buf.toString("latin1", 2, 2 + requestIdLength));
      assert.equal(buf.toString("latin1", 0, 2) + buf.toString("latin1", 2 + requestIdLength), "xxxx", "only the slot");
    }
  }
  for (const id of got) assert.match(id, uuidShape);
  assert.deepEqual(
    got.map((id) => id.slice(24)),
    ["000000fffffe", "000000ffffff", "000001000000", "000001000001"],
  );
  assert.equal(new Set(got.map((id) => id.slice(0, 24))).size, 1, "one UUID");
  const end = new RequestIds(2 ** 48 - 1);
  end.write(buf, 2);
  const last = buf.toString("latin1", 2, 2 + requestIdLength);
  end.write(buf, 2);
  const fresh = buf.toString("latin1", 2, 2 + requestIdLength);
  assert.equal(last.slice(24), "ffffffffffff");
  assert.match(fresh, uuidShape);
  assert.notEqual(fresh.slice(0, 24), last.slice(0, 24), "a new UUID after 2^48 ids");
});
