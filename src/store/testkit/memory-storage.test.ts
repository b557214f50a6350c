import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError } from "../../core/index.ts";
import type { Storage } from "../storage/storage.ts";
import { MemoryStorage } from "./memory-storage.ts";
import { storageCompliance } from "./storage-compliance.ts";

storageCompliance("memory storage", () => ({
  create: () => new MemoryStorage(),
  reopen: (s: Storage) => (s as MemoryStorage).reopen(),
}));

test("memory storage - a reopen fences the old handle, as a crashed engine must never write again", () => {
  const first = new MemoryStorage();
  first.commit({ meta: [["hlc", "1"]] });
  const second = first.reopen();
  assert.throws(() => first.commit({ meta: [["hlc", "2"]] }), /reopened/);
  assert.throws(() => first.meta("hlc"), /reopened/);
  assert.equal(second.meta("hlc"), "1");
  second.close();
  assert.throws(() => second.lastSeq(), /after close/);
  assert.equal(second.reopen().meta("hlc"), "1");
});

test("memory storage - a full simulated disk rejects a growing batch whole, and accepts one that frees space", () => {
  const s = new MemoryStorage({ capacityBytes: 1_000 });
  s.commit({ puts: [{ key: "a", partition: 0, state: new Uint8Array(500), digest: 0, expiresAtMs: 0 }] });
  assert.throws(
    () =>
      s.commit({
        puts: [{ key: "b", partition: 0, state: new Uint8Array(600), digest: 0, expiresAtMs: 0 }],
        meta: [["x", "y"]],
      }),
    (err) => isRedshirtError(err, "RS_ERR_STORE_DISK_WRITE"),
  );
  assert.equal(s.getKey("b"), undefined);
  assert.equal(s.meta("x"), undefined);
  s.commit({ deletes: ["a"] });
  s.setCapacityBytes(undefined);
  s.commit({ puts: [{ key: "b", partition: 0, state: new Uint8Array(600), digest: 0, expiresAtMs: 0 }] });
  assert.equal(s.getKey("b")?.state.length, 600);
});
