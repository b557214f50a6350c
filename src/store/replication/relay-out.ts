// The coordinator's side of relays: each op crosses the WAN once per remote site. The streams
// stay what they are — one per peer, each with its own cursor, window and acknowledgements,
// and an entry leaves the log only once every target itself acknowledged it — but the batches
// of a remote site's streams travel together, as one message to one node of that site, its
// relay, which passes each replica its leg (relay-in.ts). So the relay holds nothing: when it
// dies mid-batch, what it had not passed on is simply unacknowledged, and resent.
//
// - The relay of site S for this coordinator is the first node of S, in rendezvous order
//   seeded by this node's id (so coordinators spread over a site's nodes), that is up, whose
//   incarnation this node knows, and that has not been passed over lately. One relay for all
//   of a site's streams keeps each stream on one path, so its batches arrive in order.
// - A stream whose relayed batches time out, or whose peer the relay says it cannot reach
//   ("rdown"), goes direct for relayFallbackMs; a relay whose own leg timed out is passed
//   over as long. A stream that changes path resends from its cursor (what was in flight on
//   the old path may be lost).
// - The entries of a batch are encoded once for every leg and for every site that gets the
//   same ones (relay-codec.ts), deflated when that is smaller.

import type { TimerHandle } from "../../core/index.ts";
import { murmur3 } from "../crdt/hash.ts";
import type { LogEntry } from "../storage/storage.ts";
import type { WireMessage } from "../wire/transport.ts";
import {
  relayDirectMsMax,
  relayDirectMsMin,
  relayMessageBytesMax,
  relayPaceMs,
  relayPassOverMs,
  streamHeartbeatMs,
} from "./engine-constants.ts";
import { knownIncarnationOf } from "./incarnation.ts";
import type { Membership } from "./membership.ts";
import type { NodeContext } from "./node-context.ts";
import type { OutboundStream, StreamBatch } from "./outbound-stream.ts";
import { rendezvousOrder } from "./partition.ts";
import { fallBackIfTruncated } from "./peer-liveness.ts";
import {
  encodeLegs,
  encodeRelayEntries,
  incarnationTag,
  type RelayEntry,
  type RelayLeg,
  relayVersion,
} from "./relay-codec.ts";

/** What a coordinator tracks of its relays (NodeContext.relay). */
export type RelayState = {
  /** Per remote peer: the relay its stream's batches last went through ("": direct). */
  readonly pathOf: Map<string, string>;
  /** Per remote peer whose relay failed it: until when (monotonic ms) its stream goes direct, and how many times in a row. */
  readonly direct: Map<string, { untilMs: number; times: number }>;
  /** Per remote node: until when it is not chosen as a relay. */
  readonly notRelayUntilMs: Map<string, number>;
  /** Peers whose announcement said they speak this relay protocol (relayVersion): only they relay or are relayed to. */
  readonly speaks: Set<string>;
  /** Per remote site: the relay its streams went through last (undefined: none, all direct). */
  readonly relayOfSite: Map<string, string | undefined>;
  /** Per peer: the incarnation tag its legs carry, as of the stream's restart count. */
  readonly tags: Map<string, { readonly restarts: number; readonly tag: number }>;
  /** The entries encoded last, so the next site's message with the same entries reuses them. */
  last: { readonly seqs: readonly number[]; readonly blob: Uint8Array } | undefined;
  /** Per remote site: when its streams were last pumped, and the paced pump waiting to run (relayPaceMs). */
  readonly paced: Map<string, { lastMs: number; timer: TimerHandle | undefined }>;
};

export function createRelayState(): RelayState {
  return {
    pathOf: new Map(),
    direct: new Map(),
    notRelayUntilMs: new Map(),
    speaks: new Set(),
    relayOfSite: new Map(),
    tags: new Map(),
    last: undefined,
    paced: new Map(),
  };
}

type Placement = { readonly siteOf: ReadonlyMap<string, string>; readonly orders: Map<string, readonly string[]> };
const placements = new WeakMap<Membership, Map<string, Placement>>();

function placementOf(node: NodeContext): Placement {
  let byNode = placements.get(node.membership);
  if (!byNode) {
    byNode = new Map();
    placements.set(node.membership, byNode);
  }
  let p = byNode.get(node.id);
  if (!p) {
    p = { siteOf: new Map(node.membership.members.map((m) => [m.id, m.site])), orders: new Map() };
    byNode.set(node.id, p);
  }
  return p;
}

/** The site of a peer when it is a member of another site than this node's (its stream may go through a relay). */
export function remoteSiteOf(node: NodeContext, peer: string): string | undefined {
  const site = placementOf(node).siteOf.get(peer);
  return site === undefined || site === node.site ? undefined : site;
}

/** The members of `site` this node streams to, in the order they are tried as its relay. */
export function relayOrder(node: NodeContext, site: string): readonly string[] {
  const p = placementOf(node);
  let order = p.orders.get(site);
  if (!order) {
    const ids = node.membership.members.filter((m) => m.site === site && m.id !== node.id).map((m) => m.id);
    order = relayOrderOf(node.id, ids);
    p.orders.set(site, order);
  }
  return order;
}

/** The nodes of a site in the order `coordinator` tries them as its relay: rendezvous, seeded by the coordinator. */
export function relayOrderOf(coordinator: string, siteNodes: readonly string[]): string[] {
  return rendezvousOrder(murmur3(coordinator, 0x7e1a), siteNodes);
}

/** The tag of the peer's incarnation its legs carry; 0 while this node has not heard it announced. */
export function tagOf(node: NodeContext, peer: string): number {
  const stream = node.out.get(peer);
  const restarts = stream?.restarts ?? -1;
  const cached = node.relay.tags.get(peer);
  if (cached && cached.restarts === restarts && cached.tag !== 0) return cached.tag;
  const tag = incarnationTag(knownIncarnationOf(node, peer));
  node.relay.tags.set(peer, { restarts, tag });
  return tag;
}

/** The relay of `site` now, undefined when no node of it may be one (every stream then goes direct). */
export function relayOf(node: NodeContext, site: string, nowMs: number): string | undefined {
  // Legs are named by tags: two nodes of the site with one tag (1 in 2^32 per pair) go direct.
  const order = relayOrder(node, site);
  const tags = new Set<number>();
  for (const n of order) {
    const tag = tagOf(node, n);
    if (tag === 0) continue;
    if (tags.has(tag)) return undefined;
    tags.add(tag);
  }
  for (const n of order) {
    if (!node.out.has(n) || !node.transport.isUp(n) || !node.relay.speaks.has(n)) continue;
    if ((node.relay.notRelayUntilMs.get(n) ?? 0) > nowMs || tagOf(node, n) === 0) continue;
    return n;
  }
  return undefined;
}

/**
 * pumpSite, at most once per relayPaceMs for new entries (a heartbeat, or a stream that must
 * start again — a nack, a peer or relay lost — goes at once): the first pump after a quiet
 * spell runs now, the next waits out the interval and takes everything gathered meanwhile.
 */
export function pumpSitePaced(
  node: NodeContext,
  site: string,
  heartbeat: boolean,
  now: boolean,
  direct: (peer: string) => void,
): void {
  let p = node.relay.paced.get(site);
  if (!p) {
    p = { lastMs: Number.NEGATIVE_INFINITY, timer: undefined };
    node.relay.paced.set(site, p);
  }
  const nowMs = node.clock.monoMs();
  const waitMs = p.lastMs + relayPaceMs - nowMs;
  if (heartbeat || now || waitMs <= 0) {
    // Only a message with entries starts an interval (a heartbeat tick does not).
    if (pumpSite(node, site, heartbeat, direct)) p.lastMs = nowMs;
    return;
  }
  if (p.timer !== undefined) return; // the waiting pump takes these entries too
  const paced = p;
  paced.timer = node.clock.setTimer(waitMs, () => {
    paced.timer = undefined;
    if (node.state !== "running") return;
    try {
      if (pumpSite(node, site, false, direct)) paced.lastMs = node.clock.monoMs();
    } catch (err) {
      node.errors.report("relay-pace", err, { site });
    }
  });
}

/**
 * Sends what the streams to `site` may send now: the relayed ones in messages to the
 * site's relay, the others through `direct` (the plain stream pump). True when a relayed
 * message carried entries.
 */
export function pumpSite(node: NodeContext, site: string, heartbeat: boolean, direct: (peer: string) => void): boolean {
  const nowMs = node.clock.monoMs();
  const relay = relayOf(node, site, nowMs);
  if (node.relay.relayOfSite.get(site) !== relay) {
    if (node.relay.relayOfSite.has(site)) node.m.relayChanges.inc();
    node.relay.relayOfSite.set(site, relay);
  }
  const legs: OutboundStream[] = [];
  for (const peer of relayOrder(node, site)) {
    const stream = node.out.get(peer);
    if (!stream) continue;
    const relayed =
      relay !== undefined &&
      (peer === relay ||
        ((node.relay.direct.get(peer)?.untilMs ?? 0) <= nowMs &&
          tagOf(node, peer) !== 0 &&
          node.relay.speaks.has(peer)));
    const path = relayed ? relay : "";
    const was = node.relay.pathOf.get(peer);
    if (was !== path) {
      // What is in flight went the old way, which may be gone: start again from the cursor.
      if (was !== undefined) stream.reset(nowMs);
      node.relay.pathOf.set(peer, path);
    }
    if (!relayed) direct(peer);
    else if (node.transport.isUp(peer)) {
      fallBackIfTruncated(node, peer);
      legs.push(stream);
    }
  }
  if (relay === undefined || legs.length === 0) return false;
  const lastSeq = node.storage.lastSeq();
  let carried = false;
  const due = (lastSendMs: number) => heartbeat && nowMs - lastSendMs >= streamHeartbeatMs;
  for (;;) {
    const batches: [OutboundStream, StreamBatch][] = [];
    const union = new Map<number, LogEntry>();
    let bytes = 0;
    for (const stream of legs) {
      if (bytes >= relayMessageBytesMax) break;
      const batch = stream.nextBatch(node.local.readLog, lastSeq, node.local.safeHlc(), nowMs, due);
      if (!batch) continue;
      batches.push([stream, batch]);
      for (const e of batch.entries) {
        if (union.has(e.seq)) continue;
        union.set(e.seq, e);
        bytes += e.payload.length;
      }
    }
    if (batches.length === 0) return carried;
    if (!node.transport.send(relay, relayMessage(node, batches, union))) {
      for (const [stream] of batches) stream.reset(nowMs);
      return carried;
    }
    node.m.relayBatches.inc({ role: "sent" });
    if (union.size === 0) return carried;
    carried = true;
  }
}

/** ["rel", after, upTo, lh, legs, entries]: the batches of one site's streams, their entries encoded once. */
function relayMessage(
  node: NodeContext,
  batches: readonly [OutboundStream, StreamBatch][],
  union: ReadonlyMap<number, LogEntry>,
): WireMessage {
  const entries = [...union.values()].sort((a, b) => a.seq - b.seq);
  const seqs = entries.map((e) => e.seq);
  const legs: RelayLeg[] = batches.map(([stream, b]) => {
    let inRange = 0;
    for (const q of seqs) if (q > b.after && q <= b.upTo) inRange++;
    // Every entry of the message in the leg's range is the peer's: no list needed.
    let sel: number[] | null = null;
    if (inRange !== b.entries.length) {
      const index = new Map(seqs.map((q, i) => [q, i]));
      sel = b.entries.map((e) => index.get(e.seq) as number);
    }
    // A batch said to follow on from below the acknowledged cursor (the peer asked for less
    // than it acknowledged: outbound-stream.ts) carries that position as its cursor, so the
    // leg never claims the peer holds more than it asked from.
    const cursor = Math.min(stream.acked, b.after);
    return { tag: tagOf(node, stream.peer), after: b.after, upTo: b.upTo, lh: b.lh, cursor, sel };
  });
  const wire = encodeLegs(legs);
  const blob = entries.length === 0 ? null : entriesBlob(node, entries, seqs);
  return ["rel", wire.after, wire.upTo, wire.lh, wire.legs, blob];
}

/** The peer of `site` whose legs carry `tag` (the relay's answers name a replica by it). */
export function peerOfTag(node: NodeContext, site: string, tag: number): string | undefined {
  return relayOrder(node, site).find((n) => tagOf(node, n) === tag);
}

function entriesBlob(node: NodeContext, entries: readonly LogEntry[], seqs: readonly number[]): Uint8Array {
  const last = node.relay.last;
  if (last && last.seqs.length === seqs.length && last.seqs.every((q, i) => q === seqs[i])) return last.blob;
  const list: RelayEntry[] = entries.map((e) => [e.seq, e.key, e.partition, e.payload]);
  const blob = encodeRelayEntries(list);
  let raw = 0;
  for (const e of entries) raw += e.payload.length + e.key.length;
  node.m.relayEntryBytes.inc({ form: "raw" }, raw);
  node.m.relayEntryBytes.inc({ form: "encoded" }, blob.length);
  node.relay.last = { seqs, blob };
  return blob;
}

/** A peer's announcement said which relay protocol it speaks (none: a node of the version before). */
export function noteRelayVersion(node: NodeContext, peer: string, version: unknown): void {
  if (version === relayVersion) node.relay.speaks.add(peer);
  else node.relay.speaks.delete(peer);
}

/** The peer's stream goes direct for a while (its relay cannot reach it, or its relayed batches timed out). */
export function goDirect(node: NodeContext, peer: string, reason: "unreachable" | "timeout"): void {
  const nowMs = node.clock.monoMs();
  const d = node.relay.direct.get(peer) ?? { untilMs: 0, times: 0 };
  node.m.relayFallbacks.inc({ reason });
  if (d.untilMs > nowMs) return; // already direct (an answer to a batch sent before)
  d.times++;
  const forMs = Math.min(relayDirectMsMax, relayDirectMsMin * 2 ** Math.min(d.times - 1, 30));
  d.untilMs = nowMs + forMs;
  node.relay.direct.set(peer, d);
  // Once now and then is a link or a node coming and going (a relay that has not yet heard of
  // a site-mate that just started, say); again and again is worth a look.
  const fields = { peer, relay: node.relay.pathOf.get(peer), reason, forMs, times: d.times };
  if (d.times >= 3) node.log.warn("stream goes direct again: its relay keeps failing to get it through", fields);
  else node.log.info("stream goes direct for a while: its relay did not get it through", fields);
}

/** A relayed batch of the peer's was acknowledged: the relay works for it again. */
export function relayWorked(node: NodeContext, peer: string): void {
  const d = node.relay.direct.get(peer);
  if (d && d.untilMs <= node.clock.monoMs()) node.relay.direct.delete(peer);
}

/** A stream gave up on its batches in flight: if they went through a relay, the next ones go another way. */
export function onStreamTimeout(node: NodeContext, peer: string): void {
  const via = node.relay.pathOf.get(peer);
  if (!via) return;
  if (via !== peer) {
    goDirect(node, peer, "timeout");
    return;
  }
  // The relay's own leg timed out: the relay itself is in doubt.
  node.relay.notRelayUntilMs.set(peer, node.clock.monoMs() + relayPassOverMs);
  node.m.relayFallbacks.inc({ reason: "relay-timeout" });
  node.log.warn("relay passed over for a while: its own stream timed out", { relay: peer, forMs: relayPassOverMs });
}
