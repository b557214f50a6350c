// The behaviour every Storage must show, as one suite that each implementation runs
// (storage/sqlite-storage.test.ts, testkit/memory-storage.test.ts), so the simulation's
// disk cannot drift from the production one.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CommitBatch, KeyRow, LogAppend, Storage } from "../storage/storage.ts";

export type StorageHarness = {
  /** A fresh, empty storage. */
  create(): Storage;
  /** The same data opened again after `s` was closed or its process died; `s` is not used again. */
  reopen(s: Storage): Storage;
  cleanup?(): void;
};

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const row = (key: string, partition: number, state: Uint8Array, expiresAtMs = 0, digest = 7): KeyRow => ({
  key,
  partition,
  state,
  digest,
  expiresAtMs,
});
const entry = (key: string, lh: number, payload = bytes(lh % 256), targets = ["n2", "n3"]): LogAppend => ({
  partition: 1,
  key,
  lh,
  targets,
  payload,
});
/** A comparable plain form (Buffer vs Uint8Array, null prototypes) of what a storage returns. */
const plain = (v: unknown): unknown => {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString("hex")}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
};

export function storageCompliance(name: string, makeHarness: () => StorageHarness): void {
  const withStorage = (title: string, fn: (s: Storage, h: StorageHarness) => Storage | undefined): void => {
    test(`${name} - ${title}`, () => {
      const h = makeHarness();
      let s = h.create();
      try {
        s = fn(s, h) ?? s;
      } finally {
        s.close();
        h.cleanup?.();
      }
    });
  };

  withStorage("an empty storage has no keys, no log, no cursors and no meta", (s) => {
    assert.equal(s.getKey("a"), undefined);
    assert.equal(s.lastSeq(), 0);
    assert.equal(s.logLength(), 0);
    assert.deepEqual(s.readLog(0, 10), []);
    assert.deepEqual(s.scanPartition(0, undefined, 10), []);
    assert.deepEqual(s.expired(Number.MAX_SAFE_INTEGER, 10), []);
    assert.equal(s.cursors().size, 0);
    assert.equal(s.meta("hlc"), undefined);
    assert.deepEqual(s.commit({}), []);
  });

  withStorage("puts, updates and deletes round trip; a batch applies puts before deletes", (s) => {
    s.commit({ puts: [row("a", 1, bytes(1, 2, 3), 0, 0xffff_ffff), row("b", 2, bytes(), 5)] });
    assert.deepEqual(plain(s.getKey("a")), plain(row("a", 1, bytes(1, 2, 3), 0, 0xffff_ffff)));
    assert.deepEqual(plain(s.getKey("b")), plain(row("b", 2, bytes(), 5)));
    s.commit({ puts: [row("a", 1, bytes(9), 77, 1)] });
    assert.deepEqual(plain(s.getKey("a")), plain(row("a", 1, bytes(9), 77, 1)));
    s.commit({ puts: [row("c", 1, bytes(3))], deletes: ["c", "b", "never-there"] });
    assert.equal(s.getKey("b"), undefined);
    assert.equal(s.getKey("c"), undefined);
    assert.deepEqual(
      s.scanPartition(1, undefined, 10).map((r) => r.key),
      ["a"],
    );
  });

  withStorage("a batch that fails halfway leaves nothing behind", (s) => {
    s.commit({ puts: [row("keep", 0, bytes(1))], appends: [entry("keep", 1)], meta: [["m", "1"]] });
    const bad: CommitBatch[] = [
      { puts: [row("x1", 0, bytes(1)), row("x2", 0, "not bytes" as unknown as Uint8Array)] },
      { puts: [row("x1", 0, bytes(1)), row("x2", 0, bytes(1), 0, 1.5)] },
      { puts: [row("x1", 0, bytes(1))], appends: [entry("x1", 2), { ...entry("x1", 3), payload: null as never }] },
      { appends: [entry("x1", 2)], cursors: [["n2", -1]] },
      { puts: [row("x1", 0, bytes(1))], deletes: ["keep"], meta: [["m", 2 as unknown as string]] },
      { puts: [row("x1", 0, bytes(1)), row("\ud800lone", 0, bytes(1))] },
    ];
    for (const batch of bad) {
      assert.throws(() => s.commit(batch));
      assert.equal(s.getKey("x1"), undefined);
      assert.ok(s.getKey("keep"));
      assert.equal(s.lastSeq(), 1);
      assert.equal(s.logLength(), 1);
      assert.equal(s.cursors().size, 0);
      assert.equal(s.meta("m"), "1");
    }
    assert.deepEqual(s.commit({ appends: [entry("y", 4)] }), [2], "a failed batch consumes no seq");
  });

  withStorage("seqs increase by one per append, across batches and after truncation", (s, h) => {
    assert.deepEqual(s.commit({ appends: [entry("a", 1), entry("b", 2), entry("c", 3)] }), [1, 2, 3]);
    assert.deepEqual(s.commit({ puts: [row("a", 0, bytes())] }), []);
    assert.deepEqual(s.commit({ appends: [entry("d", 4)] }), [4]);
    s.truncateLog(2);
    assert.equal(s.logLength(), 2);
    assert.deepEqual(
      s.readLog(0, 10).map((e) => e.seq),
      [3, 4],
    );
    s.truncateLog(4);
    assert.equal(s.logLength(), 0);
    assert.equal(s.lastSeq(), 4, "lastSeq never decreases");
    s.truncateLog(99);
    s = h.reopen(s);
    assert.equal(s.lastSeq(), 4, "lastSeq survives truncation of every entry and a reopen");
    assert.deepEqual(s.commit({ appends: [entry("e", 5)] }), [5]);
    assert.equal(s.logLength(), 1);
    return s;
  });

  withStorage("readLog returns entries after a seq, in order, at most limit", (s) => {
    const appends = Array.from({ length: 25 }, (_, i) => entry(`k${i}`, 100 + i, bytes(i, 255 - i), [`n${i % 3}`]));
    s.commit({ appends: appends.slice(0, 10) });
    s.commit({ appends: appends.slice(10) });
    const all = s.readLog(0, 100);
    assert.deepEqual(plain(all), plain(appends.map((a, i) => ({ ...a, seq: i + 1 }))));
    assert.deepEqual(
      s.readLog(5, 3).map((e) => e.seq),
      [6, 7, 8],
    );
    assert.deepEqual(s.readLog(25, 10), []);
    assert.deepEqual(s.readLog(3, 0), []);
    // Paging through the log reaches every entry once.
    const seen: number[] = [];
    for (let after = 0, guard = 0; guard < 100; guard++) {
      const page = s.readLog(after, 4);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.seq));
      after = page[page.length - 1].seq;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
  });

  withStorage("scanPartition pages a partition's keys in SQLite's byte order", (s) => {
    // Code-point order: "\uffff" sorts before an astral character, unlike JavaScript's `<`.
    const keys = ["b", "a", "ab", "é", "\uffff", "😀", "Z", "a\u0000b", "10", "9"];
    s.commit({ puts: keys.map((k) => row(k, 3, bytes(k.length))) });
    s.commit({ puts: [row("other", 4, bytes()), row("aa", 2, bytes())] });
    const expected = ["10", "9", "Z", "a", "a\u0000b", "ab", "b", "é", "\uffff", "😀"];
    assert.deepEqual(
      s.scanPartition(3, undefined, 100).map((r) => r.key),
      expected,
    );
    const paged: string[] = [];
    for (let after: string | undefined, guard = 0; guard < 100; guard++) {
      const page = s.scanPartition(3, after, 3);
      assert.ok(page.length <= 3);
      if (page.length === 0) break;
      paged.push(...page.map((r) => r.key));
      after = page[page.length - 1].key;
    }
    assert.deepEqual(paged, expected);
    assert.deepEqual(
      s.scanPartition(3, "aa", 2).map((r) => r.key),
      ["ab", "b"],
      "afterKey need not exist",
    );
    assert.deepEqual(s.scanPartition(3, "😀", 5), []);
    assert.deepEqual(
      s.scanDigests(3, "a", 2),
      s.scanPartition(3, "a", 2).map((r) => ({ key: r.key, digest: r.digest })),
      "scanDigests pages like scanPartition",
    );
    assert.deepEqual(
      s.scanDigests(3, undefined, 100).map((r) => r.key),
      expected,
    );
    assert.deepEqual(s.scanPartition(9, undefined, 5), []);
    s.commit({ deletes: ["a", "é"] });
    assert.deepEqual(
      s.scanPartition(3, "Z", 3).map((r) => r.key),
      ["a\u0000b", "ab", "b"],
    );
  });

  withStorage("expired returns keys due by now, oldest first, never those without expiry", (s) => {
    s.commit({
      puts: [
        row("none", 0, bytes(), 0),
        row("late", 0, bytes(), 300),
        row("b-mid", 1, bytes(), 200),
        row("a-mid", 2, bytes(), 200),
        row("early", 0, bytes(), 100),
      ],
    });
    assert.deepEqual(
      s.expired(200, 10).map((r) => r.key),
      ["early", "a-mid", "b-mid"],
    );
    assert.deepEqual(
      s.expired(200, 2).map((r) => r.key),
      ["early", "a-mid"],
    );
    assert.deepEqual(s.expired(99, 10), []);
    s.commit({ puts: [row("early", 0, bytes(), 0)], deletes: ["a-mid"] });
    assert.deepEqual(
      s.expired(1_000, 10).map((r) => r.key),
      ["b-mid", "late"],
    );
  });

  withStorage("cursors and meta round trip and are overwritten", (s) => {
    s.commit({
      cursors: [
        ["n3", 5],
        ["n2", 7],
      ],
      meta: [
        ["hlc", "123"],
        ["node", "ny-1"],
      ],
    });
    s.commit({ cursors: [["n3", 9]], meta: [["hlc", "456"]] });
    assert.deepEqual(
      [...s.cursors()],
      [
        ["n2", 7],
        ["n3", 9],
      ],
    );
    assert.equal(s.meta("hlc"), "456");
    assert.equal(s.meta("node"), "ny-1");
    assert.equal(s.meta("missing"), undefined);
  });

  withStorage("forEachDigest visits every key once with its partition and digest", (s) => {
    s.commit({ puts: Array.from({ length: 50 }, (_, i) => row(`k${i}`, i % 4, bytes(), 0, i * 1000)) });
    s.commit({ deletes: ["k3"] });
    const seen = new Map<string, [number, number]>();
    s.forEachDigest((key, partition, digest) => {
      assert.ok(!seen.has(key));
      seen.set(key, [partition, digest]);
    });
    assert.equal(seen.size, 49);
    assert.deepEqual(seen.get("k10"), [2, 10_000]);
  });

  withStorage("stored bytes are copies: changing a buffer after commit or after a read changes nothing", (s) => {
    const state = bytes(1, 2, 3);
    const payload = bytes(4, 5);
    s.commit({ puts: [row("a", 0, state)], appends: [entry("a", 1, payload)] });
    state[0] = 99;
    payload[0] = 99;
    const read = s.getKey("a")!;
    read.state[1] = 99;
    s.readLog(0, 1)[0].payload[1] = 99;
    assert.deepEqual([...s.getKey("a")!.state], [1, 2, 3]);
    assert.deepEqual([...s.readLog(0, 1)[0].payload], [4, 5]);
  });

  withStorage("a reopen keeps every key, log entry, cursor and meta value", (s, h) => {
    s.commit({
      puts: [row("a", 1, bytes(1), 50), row("b", 2, bytes(2))],
      appends: [entry("a", 1), entry("b", 2)],
      cursors: [["n2", 1]],
      meta: [["hlc", "99"]],
    });
    s.truncateLog(1);
    s.maintain();
    const before = snapshot(s);
    s = h.reopen(s);
    assert.deepEqual(snapshot(s), before);
    return s;
  });

  withStorage("sizeBytes grows with the data and maintain keeps it all", (s) => {
    const empty = s.sizeBytes();
    assert.ok(empty >= 0);
    s.commit({ puts: Array.from({ length: 20 }, (_, i) => row(`big${i}`, 0, new Uint8Array(10_000).fill(i))) });
    assert.ok(s.sizeBytes() >= empty + 200_000, `size ${s.sizeBytes()} grew by the 200 kB written`);
    s.maintain();
    assert.equal(s.getKey("big19")!.state[0], 19);
    assert.ok(s.sizeBytes() >= 200_000);
  });

  withStorage(
    "dedup rows: kept with their commit, first answer wins, counted, expired oldest first in batches, kept across reopen",
    (s, h) => {
      const d = (opId: string, key: string, hh: number, answer = "") => ({ opId, key, partition: 1, h: hh, answer });
      assert.equal(s.dedupCount(), 0);
      s.commit({ puts: [row("k", 1, bytes(1))], dedup: [d("op1", "k", 10, "1"), d("op1", "other", 11)] });
      s.commit({ dedup: [d("op1", "k", 99, "2"), d("op2", "k", 20), d("op3", "k", 30)] });
      assert.deepEqual(plain(s.getDedup("k", "op1")), d("op1", "k", 10, "1"), "the first answer stays");
      assert.equal(s.getDedup("k", "nope"), undefined);
      assert.equal(s.dedupCount(), 4);
      assert.equal(s.expireDedup(25, 2), 2, "a batch is bounded");
      assert.equal(s.getDedup("k", "op1"), undefined, "oldest first");
      assert.equal(s.getDedup("other", "op1"), undefined);
      assert.ok(s.getDedup("k", "op2"));
      assert.equal(s.expireDedup(25, 10), 1);
      assert.equal(s.dedupCount(), 1);
      const again = h.reopen(s);
      assert.equal(again.dedupCount(), 1);
      assert.ok(again.getDedup("k", "op3"));
      return again;
    },
  );

  withStorage("dedup rows are paged in (h, op id, key) order, each page after the last row of the one before", (s) => {
    const d = (opId: string, key: string, hh: number, partition = 1) => ({ opId, key, partition, h: hh, answer: "" });
    const rows = [d("b", "k", 20), d("a", "k", 20), d("a", "j", 20, 2), d("z", "k", 5), d("c", "k", 30)];
    s.commit({ dedup: rows });
    const seen: unknown[] = [];
    let after: readonly [number, string, string] | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = s.scanDedup(after, 2);
      if (page.length === 0) break;
      assert.ok(page.length <= 2, "a page is bounded");
      seen.push(...page.map((r) => [r.h, r.opId, r.key, r.partition]));
      const last = page[page.length - 1]!;
      after = [last.h, last.opId, last.key];
    }
    assert.deepEqual(seen, [
      [5, "z", "k", 1],
      [20, "a", "j", 2],
      [20, "a", "k", 1],
      [20, "b", "k", 1],
      [30, "c", "k", 1],
    ]);
    assert.throws(() => s.scanDedup(undefined, Number.MAX_SAFE_INTEGER));
  });
}

function snapshot(s: Storage): unknown {
  const digests: unknown[] = [];
  s.forEachDigest((k, p, d) => digests.push([k, p, d]));
  return plain({
    keys: [1, 2].map((p) => s.scanPartition(p, undefined, 100)),
    expired: s.expired(1_000, 10),
    digests: digests.sort(),
    log: s.readLog(0, 100),
    lastSeq: s.lastSeq(),
    logLength: s.logLength(),
    cursors: [...s.cursors()],
    meta: s.meta("hlc"),
  });
}
