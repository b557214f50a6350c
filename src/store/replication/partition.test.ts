import assert from "node:assert/strict";
import { test } from "node:test";
import { murmur3 } from "../crdt/hash.ts";
import { partitionOf, rendezvousOrder, replicasOf } from "./partition.ts";

test("partition - MurmurHash3 x86_32 matches the reference vectors", () => {
  const seed = 0x9747b28c;
  const vectors: [string | Uint8Array, number, number][] = [
    ["", 0, 0],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    [new Uint8Array(4), 0, 0x2362f9de],
    ["a", seed, 0x7fa09ea6],
    ["aa", seed, 0x5d211726],
    ["aaa", seed, 0x283e0130],
    ["aaaa", seed, 0x5a97808a],
    ["abc", seed, 0xc84a62dd],
    ["abcd", seed, 0xf0478627],
    ["Hello, world!", seed, 0x24884cba],
    ["The quick brown fox jumps over the lazy dog", seed, 0x2fa826cd],
  ];
  for (const [input, s, expected] of vectors) assert.equal(murmur3(input, s), expected, `${String(input)} / ${s}`);
});

test("partition - keys map to the same partitions and nodes forever (fixture)", () => {
  // Changing these moves every key to another node: a data migration, never a refactoring.
  const fixture: [string, number, number][] = [
    ["user:42", 64, 53],
    ["session:0b3e8c", 64, 58],
    ["cart:alice", 64, 14],
    ["", 64, 0],
    ["ключ", 64, 2],
    ["cart:alice", 4096, 2574],
  ];
  for (const [key, partitions, expected] of fixture) {
    assert.equal(partitionOf(key, partitions), expected, `${key} in ${partitions}`);
  }
  assert.deepEqual(rendezvousOrder(0, ["a", "b", "c", "d"]), ["d", "c", "a", "b"]);
  assert.deepEqual(rendezvousOrder(17, ["a", "b", "c", "d"]), ["b", "a", "d", "c"]);
});

test("partition - keys spread evenly over partitions", () => {
  const counts = new Array(64).fill(0);
  for (let i = 0; i < 64_000; i++) counts[partitionOf(`key:${i}`, 64)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `partition holds ${c} of 1000 expected`);
});

const site = Array.from({ length: 9 }, (_, i) => `ny-store-${i + 1}`);

test("partition - rendezvous order is deterministic and independent of the order nodes are listed in", () => {
  for (let p = 0; p < 64; p++) {
    const order = rendezvousOrder(p, site);
    assert.deepEqual([...order].sort(), [...site].sort());
    assert.deepEqual(rendezvousOrder(p, [...site].reverse()), order);
  }
  assert.deepEqual(replicasOf(3, ["a", "b"], 3).sort(), ["a", "b"], "a small site holds everything it can");
});

test("partition - each node holds about rf/n of the partitions", () => {
  const partitions = 4096;
  const rf = 3;
  const held = new Map(site.map((n) => [n, 0]));
  const leads = new Map(site.map((n) => [n, 0]));
  for (let p = 0; p < partitions; p++) {
    const replicas = replicasOf(p, site, rf);
    assert.equal(new Set(replicas).size, rf);
    for (const n of replicas) held.set(n, (held.get(n) ?? 0) + 1);
    leads.set(replicas[0], (leads.get(replicas[0]) ?? 0) + 1);
  }
  const expected = (partitions * rf) / site.length;
  for (const [n, c] of held)
    assert.ok(Math.abs(c - expected) < expected * 0.1, `${n} holds ${c}, expected ~${expected}`);
  for (const [n, c] of leads) assert.ok(Math.abs(c - partitions / 9) < (partitions / 9) * 0.15, `${n} leads ${c}`);
});

test("partition - adding a node moves only the partitions it joins, about rf/(n+1) of them; removing one moves only its own", () => {
  const partitions = 4096;
  const rf = 3;
  const grown = [...site, "ny-store-10"];
  let moved = 0;
  for (let p = 0; p < partitions; p++) {
    const before = replicasOf(p, site, rf);
    const after = replicasOf(p, grown, rf);
    const lost = before.filter((n) => !after.includes(n));
    const gained = after.filter((n) => !before.includes(n));
    if (gained.length === 0) {
      assert.deepEqual(after, before);
      continue;
    }
    moved++;
    assert.deepEqual(gained, ["ny-store-10"], "only the new node joins");
    assert.equal(lost.length, 1, "exactly one old replica hands over");
  }
  const expected = (partitions * rf) / grown.length;
  assert.ok(Math.abs(moved - expected) < expected * 0.1, `${moved} partitions moved, expected ~${expected}`);
  const shrunk = site.filter((n) => n !== "ny-store-4");
  for (let p = 0; p < partitions; p++) {
    const before = replicasOf(p, site, rf);
    const after = replicasOf(p, shrunk, rf);
    if (!before.includes("ny-store-4")) assert.deepEqual(after, before);
    else
      assert.deepEqual(
        after.slice(0, rf - 1),
        before.filter((n) => n !== "ny-store-4"),
      );
  }
});
