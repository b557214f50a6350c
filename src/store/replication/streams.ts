// Both ends of the replication streams. Outbound: `pump` sends this node's log to a peer
// in batches (OutboundStream keeps the window and the acknowledged cursor) — straight to a
// peer of this site, through the site's relay to a peer of another (relay-out.ts); an ack
// moves the cursor and makes the peer a holder of the writes it covers. Inbound: a batch is
// merged and acknowledged only after the commit that holds it, and a gap is answered with a
// nack (back the way the batch came: relay-in.ts passes relayed batches to onRep).
import { decodeState } from "../crdt/crdt.ts";
import type { WireMessage } from "../wire/transport.ts";
import { streamHeartbeatMs } from "./engine-constants.ts";
import { announce, forgetConfirmation } from "./incarnation.ts";
import type { NodeContext } from "./node-context.ts";
import type { RepEntry } from "./outbound-stream.ts";
import { fallBackIfTruncated } from "./peer-liveness.ts";
import { addHolder } from "./pending-writes.ts";
import { pumpSitePaced, remoteSiteOf } from "./relay-out.ts";

/**
 * Sends what the stream to `peer` may send now (with a heartbeat if it has been quiet). A
 * remote site's streams are paced (relayPaceMs) unless `now`: a stream that must start
 * again (a nack, a peer or its relay lost) goes at once.
 */
export function pump(node: NodeContext, peer: string, heartbeat = false, now = false): void {
  const site = remoteSiteOf(node, peer);
  if (site === undefined) pumpDirect(node, peer, heartbeat);
  else pumpSitePaced(node, site, heartbeat, now, (p) => pumpDirect(node, p, heartbeat));
}

/** Sends what every stream may send now: each remote site's together, through its relay (paced). */
export function pumpAll(node: NodeContext, heartbeat = false): void {
  const sites = new Set<string>();
  for (const peer of node.out.keys()) {
    const site = remoteSiteOf(node, peer);
    if (site === undefined) pumpDirect(node, peer, heartbeat);
    else if (!sites.has(site)) {
      sites.add(site);
      pumpSitePaced(node, site, heartbeat, false, (p) => pumpDirect(node, p, heartbeat));
    }
  }
}

/** The stream to `peer` sends its batches straight to it ("rep"). */
function pumpDirect(node: NodeContext, peer: string, heartbeat: boolean): void {
  const stream = node.out.get(peer);
  if (!stream || !node.transport.isUp(peer)) return;
  fallBackIfTruncated(node, peer);
  const nowMs = node.clock.monoMs();
  const lastSeq = node.storage.lastSeq();
  for (;;) {
    const message = stream.next(
      node.local.readLog,
      lastSeq,
      node.local.safeHlc(),
      nowMs,
      (lastSendMs) => heartbeat && nowMs - lastSendMs >= streamHeartbeatMs,
    );
    if (!message) return;
    if (!node.transport.send(peer, sameBatch(node, message))) {
      stream.reset(nowMs);
      return;
    }
    if ((message[4] as unknown[]).length === 0) return;
  }
}

/** The last batch each node sent, so peers at the same place in the log get the same message object. */
const lastBatch = new WeakMap<NodeContext, WireMessage>();

/**
 * The batch already sent to another peer when this one holds the same entries (every
 * replica at the same cursor after a commit: the usual case), so the transport encodes it
 * once for all of them; otherwise this one.
 */
function sameBatch(node: NodeContext, message: WireMessage): WireMessage {
  const prev = lastBatch.get(node);
  const entries = message[4] as readonly RepEntry[];
  if (prev && entries.length > 0 && prev[1] === message[1] && prev[2] === message[2] && prev[3] === message[3]) {
    const before = prev[4] as readonly RepEntry[];
    if (before.length === entries.length && before.every((e, i) => e[2] === entries[i][2] && e[0] === entries[i][0])) {
      return prev;
    }
  }
  lastBatch.set(node, message);
  return message;
}

/**
 * Per node, per peer: the first seq of the peer's stream in a batch dropped while nothing was
 * expected from the peer (it had not confirmed this incarnation). Only for the first batch
 * taken afterwards: unlike `expect` it does not outlive it (a reborn node's peer restarts its
 * stream below the old cursors it dropped). It does outlive this node's own link to the peer
 * going down, as `expect` does: the peer's batches come over the peer's connection, which
 * may well carry on (forgetting it there let the first batch taken after the link came back
 * skip the batches dropped before it broke, and recv claim them).
 */
const droppedAfter = new WeakMap<NodeContext, Map<string, number>>();

function droppedAfterOf(node: NodeContext): Map<string, number> {
  let dropped = droppedAfter.get(node);
  if (!dropped) {
    dropped = new Map();
    droppedAfter.set(node, dropped);
  }
  return dropped;
}

/** Where a batch came from and where its answers go: straight from its coordinator, or through a relay. */
export type BatchRoute = {
  /** Sends this node's ["ack", upTo] or ["nack", after] back toward the coordinator. */
  readonly reply: (message: WireMessage) => void;
  /**
   * The coordinator's acknowledged cursor for this incarnation when it built the batch (a
   * relayed one carries it): this node committed everything up to it, so with nothing else
   * expected of the stream the batch must continue from there. Across a relay a batch may
   * overtake one that was lost (its own connection to the relay broke, or the relay died),
   * and taking it would claim the lost one's entries in recv.
   */
  readonly cursor?: number;
};

export function onRep(
  node: NodeContext,
  from: string,
  after: number,
  upTo: number,
  lh: number,
  entries: readonly RepEntry[],
  route: BatchRoute = { reply: (m) => node.transport.send(from, m) },
): void {
  // A new incarnation: until the peer confirmed it, the peer's stream may come from a cursor
  // the old incarnation acknowledged: not merged, not acknowledged (asked for again then).
  // (A sound one was confirmed by every peer before it became sound — but a gone one, which
  // was not waited for: its batches wait for its confirmation too.)
  const inc = node.incarnation;
  if (!inc.knownBy.has(from) && (inc.phase !== "sound" || inc.unconfirmed.has(from))) {
    // Dropped: when nothing is expected from the peer yet (a restart, a reborn peer), the
    // stream must still go on from here, not from a later batch (one sent after the peer
    // confirmed but before the "nack 0" of the confirmation reached it), which would skip
    // the dropped entries and make recv claim them (a session token satisfied by a replica
    // that never got the write).
    if (!node.expect.has(from)) {
      const dropped = droppedAfterOf(node);
      dropped.set(from, Math.min(dropped.get(from) ?? after, after));
    }
    return;
  }
  const expected = node.expect.get(from) ?? droppedAfter.get(node)?.get(from) ?? route.cursor;
  if (expected !== undefined && after > expected) {
    // A batch went missing: ask the sender to go back.
    route.reply(["nack", expected]);
    return;
  }
  droppedAfter.get(node)?.delete(from);
  node.expect.set(from, Math.max(node.expect.get(from) ?? 0, upTo));
  node.hlc.observe(lh);
  for (const [key, partition, payload] of entries) {
    node.local.mergeRemote(key, partition, decodeState(payload), "replicate");
  }
  node.m.replicated.inc(undefined, entries.length);
  node.local.afterNextCommit((err) => {
    if (err) {
      // Not on disk: expect this batch again, and have the sender go back to it. A later
      // batch that arrives first is nacked too, so nothing past the hole is acknowledged.
      node.expect.set(from, Math.min(node.expect.get(from) ?? after, after));
      route.reply(["nack", after]);
      return;
    }
    if ((node.recv.get(from) ?? 0) < lh) node.recv.set(from, lh);
    route.reply(["ack", upTo]);
  });
}

export function onAck(node: NodeContext, from: string, upTo: number): void {
  const stream = node.out.get(from);
  if (!stream) return;
  if (stream.onAck(upTo, node.clock.monoMs())) {
    // `pending` is in the order writes began to wait, which need not be seq order (commits
    // resolve their waiters in any order), so every write is checked: none past the first
    // one beyond upTo is skipped.
    for (const pw of node.pending) {
      if (pw.seq <= upTo && pw.targets.has(from)) addHolder(node, pw, from);
    }
    node.pending = node.pending.filter((pw) => !pw.done);
  }
  pump(node, from);
}

export function onNack(node: NodeContext, from: string, afterSeq: number): void {
  node.out.get(from)?.rewind(afterSeq, node.clock.monoMs());
  pump(node, from, false, true);
}

export function onPeerChange(node: NodeContext, peer: string, up: boolean): void {
  const stream = node.out.get(peer);
  if (!stream) return;
  stream.reset(node.clock.monoMs());
  if (!up) {
    // What this node received from the peer stays as it was (`expect`, `droppedAfter`): the
    // peer's stream comes over the peer's own connection, and when that one breaks too the
    // peer resends from its cursor, which lies at or below both. Forgetting them here let a
    // batch that followed a hole (batches dropped before the peer confirmed, a commit that
    // failed) be taken, and recv claim entries never received: stability and session reads
    // passed ops this node did not hold.
    forgetConfirmation(node, peer);
    // The relay of its site, maybe: the site's other streams take another way now.
    if (remoteSiteOf(node, peer) !== undefined) pump(node, peer, false, true);
  } else {
    // First on the new connection, so the peer knows who this is before any batch of ours.
    announce(node, { peers: [peer] });
    pump(node, peer, false, true);
  }
}
