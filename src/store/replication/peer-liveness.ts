// A bound for peers that are gone: a peer not heard from for `store.deadPeerAfterS` no
// longer holds back log truncation (the log would otherwise grow until writes are refused)
// nor the stability point (GC). It is reported — a gauge, and a warning that names it every
// minute — until it comes back or is replaced (`redshirt store replace`). When it comes
// back, its stream's cursor may lie below the truncated start: what it missed is no longer
// in the log, so the stream skips to the start and anti-entropy refills the peer instead
// (`onSynced` in membership-sync.ts ends the refill once every shared partition agreed).
import type { NodeContext } from "./node-context.ts";

export const truncatedMetaName = "log-truncated-past";
const goneReportEveryMs = 60_000;

/** A message from `peer` came: it is not gone (any more). */
export function heardFrom(node: NodeContext, peer: string): void {
  const c = node.change;
  c.lastHeardMs.set(peer, node.clock.monoMs());
  if (!c.gone.delete(peer)) return;
  node.log.warn("peer is back after being gone", { peer });
}

/** Marks peers silent for longer than the bound as gone; reports them. Run every tick. */
export function checkGone(node: NodeContext, nowMs: number): void {
  const c = node.change;
  const afterMs = node.planet.store.deadPeerAfterS * 1_000;
  for (const peer of node.others) {
    const silentMs = nowMs - (c.lastHeardMs.get(peer) ?? nowMs);
    if (silentMs < afterMs) continue;
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
  return true;
}
