// Blind writes (op ids starting with storeConstants.blindOpIdPrefix): a register or map field
// rewritten many times while stability stands still keeps one write, not every one since.
import assert from "node:assert/strict";
import { test } from "node:test";
import { blindOpIdPrefix } from "../constants.ts";
import { applyMutation, compact, digest, type KeyState, type Mutation, merge, read } from "./crdt.ts";
import { hlcFromWallMs } from "./hlc.ts";

const t0 = 1_700_000_000_000;
// Stability stands still before every write below (a dead node holds it).
const stable = hlcFromWallMs(t0 - 60_000);

function write(s: KeyState | undefined, m: Mutation, i: number, opId: string) {
  const h = hlcFromWallMs(t0 + i * 300);
  // As the coordinator does: compact what is stored, then apply.
  const before = s ? compact(s, stable, h) : s;
  return applyMutation(before, m, { opId, h, nowMs: t0 + i * 300 }).state;
}

function opCount(s: KeyState | undefined): number {
  return s ? Object.keys(s.ops).length : 0;
}

test("crdt blind writes - 200 lease-like writes to one map field while stability stands still keep one or two ops, and read as the latest", () => {
  let blind: KeyState | undefined;
  let plain: KeyState | undefined;
  for (let i = 1; i <= 200; i++) {
    const fields = { "nyc-app-1": { beat: i }, [`other-${i % 3}`]: { beat: i } };
    blind = write(blind, { kind: "mset", fields }, i, `${blindOpIdPrefix}lease.${i}`);
    plain = write(plain, { kind: "mset", fields }, i, `lease.${i}`);
  }
  assert.ok(opCount(blind) <= 8, `blind: ${opCount(blind)} ops kept`);
  assert.ok(opCount(plain) >= 200, `not blind: every write since stability is kept (${opCount(plain)})`);
  const r = read(blind, t0 + 100_000);
  assert.deepEqual((r.value as Record<string, unknown>)["nyc-app-1"], { beat: 200 });
  assert.deepEqual(read(blind, t0 + 100_000), read(plain, t0 + 100_000), "both read the same");
});

test("crdt blind writes - a register's blind losers go, a loser that is not blind stays (its retries need its id), and replicas that forgot at different times agree", () => {
  let a = write(undefined, { kind: "set", value: "v1" }, 1, "plain-1");
  for (let i = 2; i <= 50; i++) a = write(a, { kind: "set", value: `v${i}` }, i, `${blindOpIdPrefix}w${i}`);
  a = compact(a, stable, hlcFromWallMs(t0 + 60_000)) as KeyState;
  assert.ok("plain-1" in a.ops, "the loser that is not blind is kept until stable");
  assert.ok(opCount(a) <= 3, `${opCount(a)} ops kept`);
  assert.equal(read(a, t0 + 100_000).value, "v50");

  // A replica that got only the first half, then everything: merged and compacted, it agrees.
  let b = write(undefined, { kind: "set", value: "v1" }, 1, "plain-1");
  for (let i = 2; i <= 25; i++) b = write(b, { kind: "set", value: `v${i}` }, i, `${blindOpIdPrefix}w${i}`);
  const both = compact(merge(b, a) as KeyState, stable, hlcFromWallMs(t0 + 60_000)) as KeyState;
  assert.equal(read(both, t0 + 100_000).value, "v50");
  assert.equal(digest(both), digest(a));
  assert.deepEqual(Object.keys(both.ops).sort(), Object.keys(a.ops).sort(), "the same ops kept");
});
