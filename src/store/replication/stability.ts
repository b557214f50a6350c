// Stability and garbage collection. `complete` is the HLC up to which this node has every op
// targeted at it; nodes gossip it, and the stability point is the minimum over all nodes:
// every replica holds every op stamped at or before it. Keys are then compacted there (counter
// ops folded, dedup ids and tombstones dropped) and expired keys cleared, a bounded number per
// tick. docs/store-internals.md, "Why compaction is safe", says why this loses nothing.
import { compact, digest } from "../crdt/crdt.ts";
import { sweepDelayMs, sweepKeysPerTick, sweepScanKeysPerTick } from "./engine-constants.ts";
import { recvClaim } from "./incarnation.ts";
import { membershipHash } from "./membership-sync.ts";
import type { NodeContext } from "./node-context.ts";
import { isSettled, markSettled } from "./settled.ts";
import { sameRepresentation } from "./state-shape.ts";

// Peers gone for longer than store.deadPeerAfterS (peer-liveness.ts) hold back neither.
export function complete(node: NodeContext): number {
  // A new incarnation holds none of the history until it is refilled: it claims nothing.
  if (node.incarnation.phase !== "sound") return 0;
  let min = Number.MAX_SAFE_INTEGER;
  let counted = 0;
  for (const n of node.others) {
    if (node.change.gone.has(n)) continue;
    counted++;
    min = Math.min(min, recvClaim(node, n));
  }
  return counted === 0 ? node.hlc.last : min;
}

export function recomputeStable(node: NodeContext): void {
  let min = complete(node);
  for (const n of node.others) if (!node.change.gone.has(n)) min = Math.min(min, node.completeOf.get(n) ?? 0);
  if (min > node.stable) node.stable = min;
}

/**
 * Sends this node's `complete`, HLC, membership epoch (and the epoch it filled) and the peers
 * it counts as gone to every other node ("stab").
 */
export function gossipStability(node: NodeContext): void {
  const c = complete(node);
  const epoch = node.membership.epoch;
  const hash = membershipHash(node.membership);
  // The peers this node counts as gone: a node that started since does not wait a whole bound for them.
  const gone = [...node.change.gone];
  for (const n of node.others) {
    node.transport.send(n, ["stab", c, node.hlc.now(), epoch, node.change.filledEpoch, hash, gone]);
  }
  recomputeStable(node);
}

export function onStability(node: NodeContext, from: string, peerComplete: number, peerHlc: number): void {
  if (!node.others.includes(from)) return; // not a member as this node sees it (yet, or any more)
  node.hlc.observe(peerHlc);
  node.completeOf.set(from, peerComplete);
  recomputeStable(node);
}

/**
 * Compacts keys at the stability point and clears expired ones, a bounded number per
 * tick: first keys that changed at least a second ago and have something to compact, then
 * a slow scan of everything (which finds what the dirty list lost to a restart).
 */
export function sweepSome(node: NodeContext): void {
  if (node.mine.length === 0) return;
  const nowH = node.hlc.now();
  for (const row of node.storage.expired(node.clock.nowMs(), sweepKeysPerTick)) {
    compactKey(node, row.key, row.partition, nowH);
  }
  if (node.stable === 0) return;
  const nowMs = node.clock.monoMs();
  let budget = sweepKeysPerTick;
  for (const [key, { partition, sinceMs }] of node.local.dirty) {
    if (budget-- <= 0 || nowMs - sinceMs < sweepDelayMs) break;
    node.local.dirty.delete(key);
    compactKey(node, key, partition, nowH);
  }
  const sweep = node.chores.sweep;
  const partition = node.mine[sweep.partitionIndex % node.mine.length];
  const rows = node.storage.scanPartition(partition, sweep.afterKey, sweepScanKeysPerTick);
  for (const row of rows) compactKey(node, row.key, partition, nowH);
  if (rows.length === sweepScanKeysPerTick) sweep.afterKey = rows[rows.length - 1].key;
  else {
    sweep.partitionIndex = (sweep.partitionIndex + 1) % node.mine.length;
    sweep.afterKey = undefined;
  }
}

function compactKey(node: NodeContext, key: string, partition: number, nowH: number): void {
  const { state, row } = node.local.getEntry(key);
  if (!state) return;
  // While stability stands still the slow scan and the dirty list meet the same states again.
  if (isSettled(state, node.stable)) return;
  const compacted = compact(state, node.stable, nowH);
  if (!compacted) {
    node.m.tombstones.inc();
    node.local.putState(key, partition, undefined, { old: row, digest: 0 });
    return;
  }
  const d = digest(compacted);
  if (d !== (row?.digest ?? 0) || !sameRepresentation(state, compacted)) {
    node.m.compactions.inc();
    node.local.putState(key, partition, compacted, { old: row, digest: d });
  } else {
    markSettled(state, node.stable);
  }
  if (compacted !== state && nowH > node.stable) markSettled(compacted, node.stable);
}
