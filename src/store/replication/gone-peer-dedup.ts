// The dedup table's part of refilling a peer whose stream skipped entries (peer-liveness.ts,
// fallBackIfTruncated): the peer was gone for good, the coordinator truncated its log past
// it, and anti-entropy refills the peer's key states. The op ids of the skipped entries that
// already folded out of those states live only in the coordinator's dedup table; without them
// a user's retry of such a write reaching the returned peer would be applied a second time.
// So the coordinator asks the peer ("dedupowed", once a second) to pull its dedup table, which
// the peer does page by page as a rebuilt node does (refill-dedup.ts), and says so when done
// ("dedupgot"). Asked again after its restart, the peer pulls again; the coordinator's own
// restart forgets the debt (docs/store-internals.md says so).
import { dedupAskEveryMs } from "./engine-constants.ts";
import type { NodeContext } from "./node-context.ts";
import { type DedupTransfer, stepDedup } from "./refill-dedup.ts";

/** A pull of one coordinator's table; `toldMs`: when the coordinator was told it is done. */
export type DedupPull = DedupTransfer & { toldMs: number | undefined };

/** This node skipped `peer`'s stream past entries it never acknowledged: the peer must pull the dedup table. */
export function oweDedup(node: NodeContext, peer: string): void {
  if (!node.change.dedupOwed.has(peer)) node.change.dedupOwed.set(peer, Number.NEGATIVE_INFINITY);
}

/** Every tick: asks the peers owed a pull (once a second each), and steps this node's own pulls. */
export function dedupCatchUpTick(node: NodeContext, nowMs: number): void {
  const c = node.change;
  for (const [peer, askedMs] of c.dedupOwed) {
    if (!node.others.includes(peer)) {
      c.dedupOwed.delete(peer);
      continue;
    }
    if (nowMs - askedMs < dedupAskEveryMs || !node.transport.isUp(peer)) continue;
    c.dedupOwed.set(peer, nowMs);
    node.transport.send(peer, ["dedupowed"]);
  }
  for (const [peer, t] of c.dedupPulls) {
    if (!node.others.includes(peer)) {
      c.dedupPulls.delete(peer);
      continue;
    }
    if (t.done) {
      // Kept a while after: an ask already on its way is answered, not pulled for again.
      if (t.toldMs === undefined && node.transport.send(peer, ["dedupgot"])) {
        t.toldMs = nowMs;
        node.log.info("pulled a peer's dedup table after its stream skipped entries", { peer });
      } else if (t.toldMs !== undefined && nowMs - t.toldMs > 10 * dedupAskEveryMs) c.dedupPulls.delete(peer);
      continue;
    }
    if (!t.busy && node.transport.isUp(peer)) stepDedup(node, t, () => {});
  }
}

/** True while this node pulls some coordinator's dedup table (its writes go to a replica that holds the history). */
export function pullingDedup(node: NodeContext): boolean {
  for (const t of node.change.dedupPulls.values()) if (!t.done) return true;
  return false;
}

/** A coordinator says its stream to this node skipped entries: pull its dedup table (unless already at it). */
export function onDedupOwed(node: NodeContext, from: string): void {
  if (!node.others.includes(from)) return;
  const pulling = node.change.dedupPulls.get(from);
  if (pulling?.toldMs !== undefined) node.transport.send(from, ["dedupgot"]);
  if (pulling) return;
  const t: DedupPull = { peer: from, after: undefined, busy: false, done: false, toldMs: undefined };
  node.change.dedupPulls.set(from, t);
  node.m.dedupCatchUps.inc();
}

/** The peer holds this node's dedup rows: nothing more is owed. */
export function onDedupGot(node: NodeContext, from: string): void {
  node.change.dedupOwed.delete(from);
}
