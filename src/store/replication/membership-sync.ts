// How a node learns and moves membership (membership.ts says what the record means):
//
// - Stability gossip carries each node's epoch and the epoch it has filled. A node that hears
//   an older epoch answers with its record ("mem"); a newer record is adopted: persisted in
//   SQLite first (meta "membership"), then placement, streams, anti-entropy and the transport
//   are set from it. So every node converges on the newest record within a gossip or two.
// - A node that fills partitions counts a full anti-entropy pass with a voter of its site
//   only if the pass started after every peer that is up was known to hold the epoch (from
//   then on, every coordinator targets the filling node, so what the pass did not copy the
//   stream brings). A partition is filled once passes with enough voters that every majority
//   of them is met (n - majority(n) + 1 of n): whatever a quorum acknowledged is then here.
// - When every filling node has said it filled the epoch, any node adopts the record that
//   finishes the change (the same on every node).

import {
  decodeMembership,
  encodeMembership,
  finishTransition,
  inTransition,
  isNewer,
  type Membership,
  placeMembers,
} from "./membership.ts";
import type { NodeContext } from "./node-context.ts";
import { targetsOf } from "./node-context.ts";
import { OutboundStream } from "./outbound-stream.ts";
import { majority } from "./quorum.ts";

export const membershipMetaName = "membership";

/** The record this node starts with: the one it persisted, else the planet's. */
export function loadMembership(node: Pick<NodeContext, "storage">, initial: Membership): Membership {
  const saved = node.storage.meta(membershipMetaName);
  if (saved === undefined) return initial;
  const m = decodeMembership(saved);
  return isNewer(initial, m) ? initial : m;
}

/** Sets placement from `node.membership` (at start, or after adopting a record). */
export function applyPlacement(node: NodeContext): void {
  const planet = node.planet;
  const p = placeMembers(node.membership, planet.store.partitions, planet.store.rf, node.id);
  node.replicas = p.replicas;
  node.targets = p.targets;
  node.siteOrder = p.siteOrder;
  node.mine = p.mine;
  node.others = p.others;
  node.change.fill = new Map(p.filling.map((x) => [x, new Set<string>()]));
  node.change.fillFromMs = undefined;
  node.change.fillers = p.fillers;
  if (node.change.filledEpoch < node.membership.epoch && p.filling.length === 0 && p.fillers.has(node.id) === false) {
    // Nothing to fill here: this node has "filled" the epoch by definition.
    node.change.filledEpoch = node.membership.epoch;
  }
  node.antiEntropy.reconfigure(p.mine, (x) => targetsOf(node, x));
  node.m.membershipEpoch.set(node.membership.epoch);
  node.m.fillPartitions.set(p.filling.length);
}

/** Takes a newer record: persist, place, open streams to new peers and drop the removed ones. */
export function adoptMembership(node: NodeContext, next: Membership, why: string): void {
  if (!isNewer(next, node.membership)) return;
  const before = new Set(node.membership.members.map((x) => x.id));
  node.storage.commit({ meta: [[membershipMetaName, encodeMembership(next)]] });
  node.membership = next;
  applyPlacement(node);
  const nowMs = node.clock.monoMs();
  const now = new Set(node.others);
  for (const peer of node.others) {
    if (node.out.has(peer)) continue;
    // Nothing logged so far was meant for it: its stream starts at the log's end.
    const cursor = node.storage.lastSeq();
    node.out.set(peer, new OutboundStream(peer, cursor, nowMs));
    node.cursorsSaved.set(peer, -1);
    node.change.lastHeardMs.set(peer, nowMs);
  }
  for (const peer of [...node.out.keys()]) {
    if (now.has(peer)) continue;
    node.out.delete(peer);
    node.expect.delete(peer);
    node.recv.delete(peer);
    node.completeOf.delete(peer);
    node.change.gone.delete(peer);
    node.change.goneReports.delete(peer);
    node.change.refill.delete(peer);
  }
  node.onMembership(next);
  const self = next.members.find((x) => x.id === node.id);
  node.log.info("membership adopted", {
    epoch: next.epoch,
    why,
    state: self?.state ?? "removed",
    added: next.members.filter((x) => !before.has(x.id)).map((x) => x.id),
    removed: [...before].filter((id) => !next.members.some((x) => x.id === id)),
    filling: node.change.fill.size,
  });
  if (before.has(node.id) && !self) {
    node.log.warn("this node was removed from the store's membership: stop its process", { epoch: next.epoch });
  }
}

/** A peer's stability gossip said its epoch and filled epoch (and the hash of its record). */
export function onPeerEpoch(node: NodeContext, from: string, epoch: unknown, filled: unknown, hash: unknown): void {
  if (!Number.isSafeInteger(epoch)) return; // a node of an older version: it gossips no epoch
  node.change.epochOf.set(from, epoch as number);
  if (Number.isSafeInteger(filled)) node.change.filledOf.set(from, filled as number);
  const mine = node.membership;
  if ((epoch as number) < mine.epoch || ((epoch as number) === mine.epoch && hash !== membershipHash(mine))) {
    node.transport.send(from, ["mem", encodeMembership(mine)]);
  }
}

export function onMembershipMessage(node: NodeContext, from: string, text: unknown): void {
  if (typeof text !== "string") throw new Error("a membership message without a record");
  adoptMembership(node, decodeMembership(text), `from ${from}`);
}

/** A short hash of a record, so two nodes at one epoch notice they hold different ones. */
export function membershipHash(m: Membership): number {
  const text = encodeMembership(m);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Anti-entropy says a round with `peer` begun at `startMs` brought `partition` to agree. */
export function onSynced(node: NodeContext, peer: string, partition: number, startMs: number): void {
  const refill = node.change.refill.get(peer);
  if (refill) {
    refill.add(partition);
    if (node.antiEntropy.sharedWith(peer).every((p) => refill.has(p))) {
      node.change.refill.delete(peer);
      node.log.info("peer refilled by anti-entropy", { peer });
    }
  }
  const fill = node.change.fill.get(partition);
  const from = node.change.fillFromMs;
  if (!fill || from === undefined || startMs < from) return;
  if ((node.replicas[partition].get(node.site) ?? []).includes(peer)) fill.add(peer);
}

/** Partitions this node still fills under its record (0 once it filled the epoch). */
export function fillLeft(node: NodeContext): number {
  const c = node.change;
  if (c.filledEpoch >= node.membership.epoch) return 0;
  let left = 0;
  for (const [p, done] of c.fill) {
    const voters = (node.replicas[p].get(node.site) ?? []).filter((n) => n !== node.id);
    if (done.size < voters.length - majority(voters.length) + 1) left++;
  }
  return left;
}

/** Run every tick: fill bookkeeping, and finishing the change once every filling node filled it. */
export function advanceMembership(node: NodeContext): void {
  const m = node.membership;
  if (!inTransition(m)) return;
  const c = node.change;
  if (c.fill.size > 0 && c.filledEpoch < m.epoch) {
    if (c.fillFromMs === undefined) {
      const behind = node.others.filter((n) => node.transport.isUp(n) && (c.epochOf.get(n) ?? -1) < m.epoch);
      if (behind.length === 0) c.fillFromMs = node.clock.monoMs();
    }
    const left = fillLeft(node);
    node.m.fillPartitions.set(left);
    if (left > 0) return;
    c.filledEpoch = m.epoch;
    node.log.info("partitions filled", { epoch: m.epoch, partitions: c.fill.size });
  }
  for (const f of c.fillers) {
    const filled = f === node.id ? c.filledEpoch : (c.filledOf.get(f) ?? 0);
    if (filled < m.epoch) return;
  }
  adoptMembership(node, finishTransition(m), "every filling node filled");
}

/** The peers anti-entropy should run rounds with first: voters this node fills from, then peers to refill. */
export function preferredPeers(node: NodeContext): string[] {
  const out = new Set<string>();
  const c = node.change;
  if (c.fillFromMs !== undefined && c.filledEpoch < node.membership.epoch) {
    for (const [p, done] of c.fill) {
      for (const v of node.replicas[p].get(node.site) ?? []) if (v !== node.id && !done.has(v)) out.add(v);
    }
  }
  for (const peer of c.refill.keys()) out.add(peer);
  return [...out];
}
