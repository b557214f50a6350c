// The peer's side of an anti-entropy round (anti-entropy.ts has the round and the
// initiator's side): it answers each message from what it holds, keeping no state between
// them, so a lost message only costs the round its timeout.
import { encodeState } from "../crdt/crdt.ts";
import { compareKeys } from "../storage/storage-rows.ts";
import { type AntiEntropyDeps, type StateList, settlingDigest } from "./anti-entropy-types.ts";
import {
  antiEntropyDiffPartitionsMax,
  antiEntropyMessageBytesMax,
  antiEntropyPageKeysMax,
  antiEntropyScanKeysMax,
} from "./engine-constants.ts";

/** ae-roots: answers with the bucket hashes of the partitions whose roots differ here. */
export function answerRoots(
  d: AntiEntropyDeps,
  mine: ReadonlySet<number>,
  from: string,
  roundId: number,
  partitions: number[],
  roots: number[],
): void {
  const diff: [number, number[]][] = [];
  // Partitions this node does not hold (the two see different memberships for a moment)
  // are named, so the initiator never takes them for agreed.
  const notHeld: number[] = [];
  let examined = 0;
  for (; examined < partitions.length && diff.length < antiEntropyDiffPartitionsMax; examined++) {
    const p = partitions[examined];
    if (!mine.has(p)) notHeld.push(p);
    else if (d.trees.root(p) !== roots[examined]) diff.push([p, Array.from(d.trees.buckets(p))]);
  }
  d.send(from, ["ae-diff", roundId, diff, examined, notHeld]);
}

/** ae-keys: compares the initiator's page with this node's keys of the same buckets and range. */
export function answerKeys(
  d: AntiEntropyDeps,
  mine: ReadonlySet<number>,
  from: string,
  [, roundId, partition, bucketList, after, upto, keys, digests, leaveSettling]: [
    string,
    number,
    number,
    number[],
    string | null,
    string | null,
    string[],
    number[],
    boolean?,
  ],
): void {
  if (!mine.has(partition)) {
    // Placement moved since the round began: say so instead of an empty (agreeing) page.
    d.m.aeRounds.inc({ outcome: "placement-moved" });
    d.send(from, ["ae-page", roundId, partition, [], [], null, true]);
    return;
  }
  const buckets = new Set(bucketList);
  const theirs = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) theirs.set(keys[i], digests[i]);
  const rows = d.scanDigests(partition, after ?? undefined, antiEntropyScanKeysMax);
  // The range this reply covers: up to `upto`, or less when the scan or the budget ran out.
  let covered: string | null = upto;
  if (rows.length === antiEntropyScanKeysMax) {
    const last = rows[rows.length - 1].key;
    if (covered === null || compareKeys(last, covered) < 0) covered = last;
  }
  const send: StateList = [];
  const want: string[] = [];
  let bytes = 0;
  let left = 0;
  const leave = leaveSettling === true && d.settling !== undefined ? d.settling : undefined;
  for (const row of rows) {
    if (covered !== null && compareKeys(row.key, covered) > 0) break;
    if (!buckets.has(d.trees.bucketOf(row.key))) continue;
    // A key they hold with digest 0 (a tombstone) differs from a live one here: both ways.
    const held = theirs.has(row.key);
    const other = theirs.get(row.key) ?? 0;
    theirs.delete(row.key);
    if (other === row.digest) continue;
    if (other === settlingDigest || leave?.(row.key)) {
      left++;
      continue;
    }
    if (held) want.push(row.key);
    const state = d.stateOf(row.key);
    if (state) {
      const encoded = encodeState(state);
      send.push([row.key, encoded]);
      bytes += encoded.byteLength;
    }
    if (send.length >= antiEntropyPageKeysMax || bytes >= antiEntropyMessageBytesMax) {
      covered = row.key;
      break;
    }
  }
  // Keys they hold in the covered range that this node does not: wanted too.
  for (const [key, digest] of theirs) {
    if (digest === 0 || (covered !== null && compareKeys(key, covered) > 0)) continue;
    if (digest === settlingDigest) left++;
    else want.push(key);
  }
  d.m.aeKeys.inc({ direction: "sent" }, send.length);
  if (left > 0) d.m.aeKeys.inc({ direction: "left-settling" }, left);
  d.send(from, ["ae-page", roundId, partition, send, want, covered, false, left]);
}
