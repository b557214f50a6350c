// Tests run two files at a time and each binds fixed loopback addresses, so two files that
// claim the same 127.N.0.0/16 block collide with EADDRINUSE only when the runner happens to
// pair them — a flake nobody can replay. Every file that states its blocks in an
// "Addresses: …" comment is checked here against every other one.
import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import { test } from "node:test";

/** The second octets a file's "Addresses:" comment claims (127.a.0.0/16, ranges "127.a… – 127.b…", "127.a–b…"). */
function claimedBlocks(text: string): number[] {
  const start = text.indexOf("Addresses:");
  if (start < 0) return [];
  const end = text.indexOf("belong", start);
  const claim = text.slice(start, end < 0 ? start + 300 : end);
  const out = new Set<number>();
  for (const m of claim.matchAll(/127\.(\d+)(?:–(\d+))?\.0\.0\/16(?:\s*–\s*127\.(\d+)\.0\.0\/16)?/g)) {
    const from = Number(m[1]);
    const to = Number(m[2] ?? m[3] ?? m[1]);
    for (let n = from; n <= to; n++) out.add(n);
  }
  return [...out];
}

test("address blocks - a claim comment is read as the blocks it names", () => {
  assert.deepEqual(claimedBlocks("// Addresses: 127.145.0.0/16 belongs to this file."), [145]);
  assert.deepEqual(claimedBlocks("// Addresses: 127.170.0.0/16 – 127.172.0.0/16 belong"), [170, 171, 172]);
  assert.deepEqual(claimedBlocks("// Addresses: 127.230–232.0.0/16 belong"), [230, 231, 232]);
  assert.deepEqual(claimedBlocks("// Addresses: 127.182.0.0/16 and 127.183.0.0/16 belong"), [182, 183]);
});

test("address blocks - no two test files claim the same 127.N.0.0/16 block", () => {
  const owner = new Map<number, string>();
  const clashes: string[] = [];
  const files = [...globSync("src/**/*.test.ts"), ...globSync("test/**/*.test.ts")].sort();
  for (const file of files) {
    for (const n of claimedBlocks(readFileSync(file, "utf8"))) {
      const first = owner.get(n);
      if (first && first !== file) clashes.push(`127.${n}.0.0/16: ${first} and ${file}`);
      else owner.set(n, file);
    }
  }
  assert.ok(owner.size > 20, `the claims were read (${owner.size} blocks)`);
  assert.deepEqual(clashes, []);
});
