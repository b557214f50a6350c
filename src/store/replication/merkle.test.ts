import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../core/index.ts";
import { HashTrees } from "./merkle.ts";

test("merkle - trees updated incrementally in any order equal trees built from the final digests", () => {
  const rnd = seededRandom(7);
  const keys = Array.from({ length: 500 }, (_, i) => `k${i}`);
  const live = new HashTrees(4);
  const digests = new Map<string, number>();
  for (let i = 0; i < 5000; i++) {
    const key = keys[rnd.int(keys.length)];
    const old = digests.get(key) ?? 0;
    const next = rnd.int(4) === 0 ? 0 : (rnd.next() * 0x1_0000_0000) >>> 0;
    live.update(2, key, old, next);
    digests.set(key, next);
  }
  const rebuilt = new HashTrees(4);
  for (const [key, d] of [...digests].reverse()) rebuilt.update(2, key, 0, d);
  assert.deepEqual(live.buckets(2), rebuilt.buckets(2));
  assert.equal(live.root(2), rebuilt.root(2));
  assert.equal(live.root(0), new HashTrees(4).root(0), "other partitions untouched");
});

test("merkle - one differing key shows in exactly its bucket and in the root", () => {
  const a = new HashTrees(1);
  const b = new HashTrees(1);
  for (let i = 0; i < 300; i++) {
    a.update(0, `k${i}`, 0, 1000 + i);
    b.update(0, `k${i}`, 0, 1000 + i);
  }
  assert.equal(a.root(0), b.root(0));
  b.update(0, "k17", 1017, 99);
  const diff = [...a.buckets(0)].flatMap((x, i) => (x === b.buckets(0)[i] ? [] : [i]));
  assert.deepEqual(diff, [a.bucketOf("k17")]);
  assert.notEqual(a.root(0), b.root(0));
  b.update(0, "k17", 99, 1017);
  assert.equal(a.root(0), b.root(0));
});

test("merkle - equal digests on different keys do not cancel, and digest 0 is the same as no key", () => {
  const t = new HashTrees(1);
  const empty = t.root(0);
  const target = t.bucketOf("a");
  const twin = Array.from({ length: 10_000 }, (_, i) => `b${i}`).find((k) => t.bucketOf(k) === target) as string;
  t.update(0, "a", 0, 5);
  t.update(0, twin, 0, 5);
  assert.notEqual(t.buckets(0)[target], 0, "two keys with the same digest in one bucket still show");
  t.update(0, "a", 5, 0);
  t.update(0, twin, 5, 0);
  t.update(0, "c", 0, 0);
  assert.equal(t.root(0), empty);
  assert.ok(t.bucketOf("anything") >= 0 && t.bucketOf("anything") < 256);
});
