// The liveness rule alone, with time passed in: a lease is live while its beat moves
// within the TTL on the watcher's clock; a replica behind never fakes progress; a failed
// read keeps the view; after an outage the live get a fresh TTL; stale fields are found.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Lease } from "./lease.ts";
import { parseLease } from "./lease.ts";
import { LeaseTable } from "./table.ts";

const ttlMs = 1_500;

function lease(id: string, beat: number, extra: Partial<Lease> = {}): Lease {
  return {
    id,
    site: "s",
    tier: "app",
    host: "127.0.0.1",
    port: 9000,
    state: "ready",
    version: "1",
    startedAtMs: 1_000,
    beat,
    ...extra,
  };
}

function view(...leases: Lease[]): Map<string, Lease> {
  return new Map(leases.map((l) => [l.id, l]));
}

const ids = (t: LeaseTable) => t.live().map((l) => l.id);

test("registry table - a lease is live while its beat moves within the TTL, on our clock", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  assert.equal(t.observe(view(lease("a", 1), lease("b", 1)), 0), true);
  assert.deepEqual(ids(t), ["a", "b"]);
  // a keeps beating, b stops.
  for (let ms = 250; ms <= 1_500; ms += 250) t.observe(view(lease("a", 1 + ms / 250), lease("b", 1)), ms);
  assert.deepEqual(ids(t), ["a", "b"], "b is still within its TTL");
  assert.equal(t.observe(view(lease("a", 8), lease("b", 1)), 1_750), true);
  assert.deepEqual(ids(t), ["a"], "b's beat has not moved for more than the TTL");
  // The holder's own clock says nothing: a lease written by a host hours ahead is as live.
  t.observe(view(lease("a", 9), lease("c", 1, { startedAtMs: 1_000 + 7_200_000 })), 2_000);
  assert.deepEqual(ids(t), ["a", "c"]);
});

test("registry table - a replica behind (a lower beat) is not progress; a new incarnation is", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  t.observe(view(lease("a", 10)), 0);
  // Reading another replica that has only beat 9, again and again, must not keep a alive.
  for (let ms = 500; ms <= 2_000; ms += 500) t.observe(view(lease("a", ms % 1_000 === 0 ? 9 : 10)), ms);
  assert.deepEqual(ids(t), []);
  // The same id restarted (a new startedAtMs) with beat 1: alive again.
  t.observe(view(lease("a", 1, { startedAtMs: 5_000 })), 2_100);
  assert.deepEqual(ids(t), ["a"]);
});

test("registry table - a state change is a change of the view; a beat alone is not", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  t.observe(view(lease("a", 1, { state: "starting" })), 0);
  assert.equal(t.observe(view(lease("a", 2, { state: "starting" })), 250), false);
  assert.equal(t.observe(view(lease("a", 3, { state: "ready" })), 500), true);
  assert.equal(t.live()[0].state, "ready");
  assert.equal(t.observe(view(), 750), true, "removed: gone at once");
  assert.deepEqual(ids(t), []);
});

test("registry table - a failed read keeps the view; after it the live get a fresh TTL, the dead do not", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  t.observe(view(lease("a", 1), lease("b", 1)), 0);
  t.observe(view(lease("a", 2), lease("b", 1)), 1_000);
  t.observe(view(lease("a", 3), lease("b", 1)), 1_600);
  assert.deepEqual(ids(t), ["a"]);
  // The store is unreachable for 5 s: nothing changes, nothing expires.
  for (let i = 0; i < 20; i++) t.readFailed();
  assert.deepEqual(ids(t), ["a"]);
  // Back: a's beat has not moved (its writes failed too) but it was live: it gets a TTL to show a beat.
  t.observe(view(lease("a", 3), lease("b", 1)), 6_600);
  assert.deepEqual(ids(t), ["a"]);
  t.observe(view(lease("a", 3), lease("b", 1)), 6_600 + ttlMs + 1);
  assert.deepEqual(ids(t), [], "no beat within the TTL after the outage: gone");
});

test("registry table - fields unchanged for the cleanup time are stale; first sight starts the clock", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  t.observe(view(lease("a", 1), lease("dead", 7)), 0);
  for (let ms = 1_000; ms <= 15_000; ms += 1_000) t.observe(view(lease("a", 1 + ms), lease("dead", 7)), ms);
  assert.deepEqual(t.stale(14_999), []);
  assert.deepEqual(t.stale(15_000), ["dead"]);
  assert.equal(t.ageMs("dead", 15_000), 15_000);
});

test("registry table - parseLease accepts a lease and names the bad field of anything else", () => {
  assert.equal(parseLease(lease("a", 1)).ok, true);
  assert.match((parseLease({ ...lease("a", 1), port: 0 }) as { reason: string }).reason, /^port:/);
  const bad = parseLease({ ...lease("a", 1), tier: "db" });
  assert.equal(bad.ok, false);
  assert.match((bad as { reason: string }).reason, /^tier:/);
  assert.match((parseLease("x") as { reason: string }).reason, /value|expected/);
  assert.match((parseLease({ ...lease("a b", 1) }) as { reason: string }).reason, /^id:/);
});

test("registry table - a beat is dated at the read before the one that saw it: gone within TTL + one poll", () => {
  const t = new LeaseTable({ leaseTtlMs: ttlMs, cleanupAfterMs: 10 * ttlMs });
  t.observe(view(lease("a", 1)), 0);
  // The last beat lands between the reads at 0 and 250 (say at 240), then the holder dies.
  t.observe(view(lease("a", 2)), 250);
  for (let ms = 500; ms <= 1_500; ms += 250) t.observe(view(lease("a", 2)), ms);
  assert.deepEqual(ids(t), ["a"], "at most a TTL since the earliest the beat can have moved");
  t.observe(view(lease("a", 2)), 1_750);
  assert.deepEqual(ids(t), [], "gone at the first read past the TTL: 1 510 ms after the last beat at 240");
});
