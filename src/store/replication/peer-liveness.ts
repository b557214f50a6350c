// A bound for peers that are gone: a peer not heard from for `store.deadPeerAfterS` no
// longer holds back log truncation (the log would otherwise grow until writes are refused)
// nor the stability point (GC). It is reported — a gauge, and a warning that names it every
// minute — until it comes back or is replaced (`redshirt store replace`). When it comes
// back, its stream's cursor may lie below the truncated start: what it missed is no longer
// in the log, so the stream skips to the start and anti-entropy refills the peer instead
// (`onSynced` in membership-sync.ts ends the refill once every shared partition agreed).
import { goneByReportAfterMs } from "./engine-constants.ts";
import { oweDedup } from "./gone-peer-dedup.ts";
import type { NodeContext } from "./node-context.ts";

export const truncatedMetaName = "log-truncated-past";
const goneReportEveryMs = 60_000;

/** A message from `peer` came: it is not gone (any more). */
export function heardFrom(node: NodeContext, peer: string): void {
  const c = node.change;
  c.lastHeardMs.set(peer, node.clock.monoMs());
  c.heardSinceStart.add(peer);
  if (!c.gone.delete(peer)) return;
  node.log.warn("peer is back after being gone", { peer });
}

/** Marks peers silent for longer than the bound as gone; reports them. Run every tick. */
export function checkGone(node: NodeContext, nowMs: number): void {
  const c = node.change;
  const afterMs = node.planet.store.deadPeerAfterS * 1_000;
  for (const peer of node.others) {
    const silentMs = nowMs - (c.lastHeardMs.get(peer) ?? nowMs);
    if (silentMs < afterMs) {
      if (!c.gone.has(peer) && silentMs >= goneByReportAfterMs) goneByReport(node, peer, silentMs);
      continue;
    }
    const lastReported = goneReported.get(node)?.get(peer);
    if (!c.gone.has(peer)) c.gone.add(peer);
    else if (lastReported !== undefined && nowMs - lastReported < goneReportEveryMs) continue;
    const reported = goneReported.get(node) ?? new Map<string, number>();
    reported.set(peer, nowMs);
    goneReported.set(node, reported);
    node.log.warn(`node ${peer} gone for ${Math.round(silentMs / 1_000)}s: replace it (redshirt store replace)`, {
      peer,
      goneS: Math.round(silentMs / 1_000),
    });
  }
}

/**
 * A peer this node has not heard from since it started, which a peer it hears (and that is
 * not gone itself) says is gone, is gone here too (engine-constants.ts, goneByReportAfterMs,
 * says why): the reporter has heard nothing of it for store.deadPeerAfterS, and neither has
 * this node since it started. A peer that is back clears it with its first message, here
 * (heardFrom) as at the reporter, whose next gossip no longer names it.
 */
function goneByReport(node: NodeContext, peer: string, silentMs: number): void {
  const c = node.change;
  if (c.heardSinceStart.has(peer)) return;
  let reporter: string | undefined;
  for (const [from, gone] of c.goneReports) {
    if (gone.has(peer) && !c.gone.has(from) && c.heardSinceStart.has(from) && node.others.includes(from)) {
      reporter = from;
      break;
    }
  }
  if (reporter === undefined) return;
  c.gone.add(peer);
  node.m.goneByReport.inc();
  node.log.warn(
    `node ${peer} not heard from since this node started ${Math.round(silentMs / 1_000)}s ago, and ${reporter} says it is gone: stability and the log go on without it here too`,
    { peer, reporter, silentS: Math.round(silentMs / 1_000) },
  );
}

/** What a peer's stability gossip says about the peers it counts as gone (a bounded list of member ids). */
export function onGoneReport(node: NodeContext, from: string, gone: unknown): void {
  if (gone === undefined || !node.others.includes(from)) return; // a node of the version before sends none
  if (!Array.isArray(gone) || gone.length > node.membership.members.length) throw new Error("malformed gone list");
  const members = new Set<string>();
  for (const peer of gone) {
    if (typeof peer !== "string") throw new Error("malformed gone list");
    if (peer !== node.id && node.others.includes(peer)) members.add(peer);
  }
  node.change.goneReports.set(from, members);
}

const goneReported = new WeakMap<NodeContext, Map<string, number>>();

/** Truncates the log below what every peer that is not gone acknowledged. Run once a second. */
export function truncate(node: NodeContext): void {
  let min = node.storage.lastSeq();
  for (const s of node.out.values()) if (!node.change.gone.has(s.peer)) min = Math.min(min, s.acked);
  let past = node.change.truncatedPast;
  for (const s of node.out.values()) if (s.acked < min) past = Math.max(past, min);
  if (past > node.change.truncatedPast) {
    // Durable before the entries go: after a restart a stream must still know what it missed.
    node.storage.commit({ meta: [[truncatedMetaName, String(past)]] });
    node.change.truncatedPast = past;
  }
  node.storage.truncateLog(min);
  node.m.logTruncatedSeq.set(min);
}

/**
 * Called before a stream sends: a cursor below the truncated start means entries the peer
 * never acknowledged are gone from the log. The stream continues from the start and the
 * peer is refilled by anti-entropy. Returns true when it fell back.
 */
export function fallBackIfTruncated(node: NodeContext, peer: string): boolean {
  const stream = node.out.get(peer);
  const past = node.change.truncatedPast;
  if (!stream || stream.acked >= past) return false;
  node.m.streamRefills.inc();
  node.log.warn("stream cursor below the truncated log start: refilling the peer by anti-entropy", {
    peer,
    cursor: stream.acked,
    truncatedPast: past,
  });
  stream.skipTo(past, node.clock.monoMs());
  node.change.refill.set(peer, new Set());
  oweDedup(node, peer);
  return true;
}
