// The incarnation of a node's data dir (docs/store-internals.md, "Disk loss"). A data file
// gets a random incarnation id when it is created; it lives in the file's meta table, so a
// node restarted on an empty dir under its old node id (what the supervisor does when a disk
// is lost: the slot keeps its id) is a new incarnation, and everyone can tell.
//
// Why it matters: stability (stability.ts) is the minimum of what every node claims to hold,
// and compaction folds counter ops below it into one base that wins every merge. A node that
// came back empty holds none of the history, yet its peers' streams resume at the cursors
// its old incarnation acknowledged and its own new log streams on from the old one's place:
// without more, it would claim to be complete, stability would pass ops it never saw, and
// its newer, smaller base would replace the real one everywhere (acknowledged increments
// gone from every replica). So:
//
// - A new incarnation starts in phase "new" and claims nothing (its `complete` is 0), so the
//   stability point freezes on every node until it is "sound". If every peer confirms it
//   without having known an earlier incarnation of the node id, it is the first one (a new
//   planet): sound at once. If one knew another, it is "refilling".
// - It announces itself to every peer ("inc"). A peer that knew another incarnation of it
//   rewinds its stream to it to the start of its log (whatever is still there is resent)
//   and persists the new id; while the node says it is refilling, the peer claims nothing
//   past what it had received from the old incarnation (whose unstreamed log is gone).
// - Stream batches from a peer count only once that peer confirmed the announcement
//   ("incok"), so a batch sent from an old cursor is never acknowledged by the new one.
// - Once every peer confirmed, the node pulls every partition it replicates from every other
//   replica of it, in bounded pages (refill.ts), then pushes the union back, so the ops its
//   old incarnation had sent to only some replicas reach all of them. Then it is sound,
//   persists that, and tells its peers.
import type { Storage } from "../storage/storage.ts";
import { incarnationAnnounceMs, refillCallTimeoutMs } from "./engine-constants.ts";
import type { NodeContext } from "./node-context.ts";
import { relayVersion } from "./relay-codec.ts";

/**
 * "new": created empty, not yet known whether this node id had an earlier incarnation (every
 * peer is asked); "refilling": it had, and the history is being pulled; "sound": it holds
 * what it claims. Only a sound node claims to be complete.
 */
export type IncarnationPhase = "new" | "refilling" | "sound";

export const incarnationMetaName = "incarnation";
export const incarnationPhaseMetaName = "incarnationPhase";
/** The peers that had not confirmed this incarnation when it became sound (they were gone): a JSON array. */
export const unconfirmedMetaName = "incarnationUnconfirmed";
const peerMetaPrefix = "incarnation:";
const rebornMetaPrefix = "rebornAs:";

export type Incarnation = {
  readonly id: string;
  phase: IncarnationPhase;
  /** Peers that confirmed this incarnation on their current connection (their streams count). */
  readonly knownBy: Set<string>;
  /** Peers that confirmed it since this process started (each has its stream to this incarnation reset, persisted). */
  readonly heardFrom: Set<string>;
  /** Which phase each peer last confirmed on its current connection ("refilling" stands for new, too). */
  readonly confirmed: Map<string, "refilling" | "sound">;
  /** When the announcement was last sent to each peer that has not confirmed the current phase. */
  readonly announcedMs: Map<string, number>;
  /** A peer knew an earlier incarnation of this node id: its disk was lost. */
  reborn: boolean;
  /** Every partition was pulled from every other replica (reads no longer need forwarding). */
  pulled: boolean;
  /** Peers that said they are refilling, with what this node had received from them by then (it claims no more). */
  readonly peersRefilling: Map<string, number>;
  /**
   * Peers that had not confirmed this incarnation when it became sound (gone, so not waited
   * for). Their streams may still come from a cursor the lost incarnation acknowledged, so
   * their batches are not taken until they confirm, sound or not (persisted).
   */
  readonly unconfirmed: Set<string>;
  /** How the refill went, for health and the tests: keys merged, ms taken (pull and push). */
  refill: { keysPulled: number; keysPushed: number; startedMs: number; pulledMs: number; tookMs: number };
};

/**
 * The incarnation of a data file: read from meta, or created (and committed) for a new file.
 * A file that already holds data but no incarnation (written before incarnations existed)
 * gets one and is sound: it is the same disk.
 */
export function openIncarnation(storage: Storage, newId: () => string, hasKeys: boolean): Incarnation {
  let id = storage.meta(incarnationMetaName);
  let phase = storage.meta(incarnationPhaseMetaName) as IncarnationPhase | undefined;
  if (id === undefined) {
    const empty = !hasKeys && storage.lastSeq() === 0 && storage.meta("hlc") === undefined;
    id = newId();
    phase = empty ? "new" : "sound";
    storage.commit({
      meta: [
        [incarnationMetaName, id],
        [incarnationPhaseMetaName, phase],
      ],
    });
  }
  return {
    id,
    phase: phase === "sound" || phase === "refilling" ? phase : "new",
    knownBy: new Set(),
    heardFrom: new Set(),
    confirmed: new Map(),
    announcedMs: new Map(),
    reborn: false,
    pulled: phase === "sound",
    peersRefilling: new Map(),
    unconfirmed: new Set(JSON.parse(storage.meta(unconfirmedMetaName) ?? "[]") as string[]),
    refill: { keysPulled: 0, keysPushed: 0, startedMs: -1, pulledMs: -1, tookMs: -1 },
  };
}

/**
 * Tells peers that are up and have not confirmed it which incarnation this is, and in which
 * phase (again after incarnationAnnounceMs while unconfirmed). `now` sends at once, also to
 * peers that confirmed already (the phase changed, or the connection is new).
 */
export function announce(node: NodeContext, now?: { readonly peers: readonly string[] }): void {
  const inc = node.incarnation;
  const nowMs = node.clock.monoMs();
  const phase = inc.phase === "sound" ? "sound" : "refilling";
  for (const peer of now ? now.peers : node.others) {
    if (!node.transport.isUp(peer)) continue;
    const last = inc.announcedMs.get(peer);
    const due = inc.confirmed.get(peer) !== phase && (last === undefined || nowMs - last >= incarnationAnnounceMs);
    if (!now && !due) continue;
    inc.announcedMs.set(peer, nowMs);
    const callId = node.calls.call((reply) => {
      if (reply[0] !== "incok" || reply[2] !== inc.id) return;
      if (reply[3] === true) becomeReborn(node);
      inc.heardFrom.add(peer);
      inc.confirmed.set(peer, reply[4] === "sound" ? "sound" : "refilling");
      const wasUnconfirmed = inc.unconfirmed.delete(peer);
      if (wasUnconfirmed) node.storage.commit({ meta: [[unconfirmedMetaName, JSON.stringify([...inc.unconfirmed])]] });
      if (inc.knownBy.has(peer)) return;
      inc.knownBy.add(peer);
      // Batches that came before the confirmation were ignored: have the peer resend from its cursor.
      if (inc.phase !== "sound" || wasUnconfirmed) node.transport.send(peer, ["nack", 0]);
    });
    // Also says which relay protocol this node speaks (relay-out.ts): a node of the version
    // before sends none and is neither chosen as a relay nor sent relayed legs.
    node.transport.send(peer, ["inc", callId, inc.id, phase, relayVersion]);
    // An answer that never comes leaves no call behind (the announcement is sent again).
    node.clock.setTimer(refillCallTimeoutMs, () => node.calls.delete(callId));
  }
}

/** A peer knew an earlier incarnation of this node id: the disk was lost, the history must be refilled (persisted). */
function becomeReborn(node: NodeContext): void {
  const inc = node.incarnation;
  inc.reborn = true;
  if (inc.phase !== "new") return;
  node.storage.commit({ meta: [[incarnationPhaseMetaName, "refilling"]] });
  inc.phase = "refilling";
  inc.pulled = false;
  node.log.warn("this node id had an earlier incarnation (its disk was lost): refilling from the peers", {
    node: node.id,
    incarnation: inc.id,
  });
}

/**
 * A new incarnation that every peer has confirmed without knowing an earlier one of this
 * node id is the first (a new planet, or a node added): there is no history to refill.
 */
export function settleNew(node: NodeContext): void {
  const inc = node.incarnation;
  if (inc.phase !== "new" || !everyPeerConfirmed(node)) return;
  node.storage.commit({ meta: [[incarnationPhaseMetaName, "sound"], unconfirmedMeta(node)] });
  inc.phase = "sound";
  inc.pulled = true;
  node.m.refilling.set(0);
  node.log.info("first incarnation of this node id: nothing to refill", { node: node.id, incarnation: inc.id });
  announce(node, { peers: node.others });
}

/**
 * Records, as the incarnation becomes sound, which peers have not confirmed it (they were
 * gone): the meta row to commit with the phase.
 */
export function unconfirmedMeta(node: NodeContext): [string, string] {
  const inc = node.incarnation;
  for (const peer of node.others) if (!inc.heardFrom.has(peer)) inc.unconfirmed.add(peer);
  return [unconfirmedMetaName, JSON.stringify([...inc.unconfirmed])];
}

/**
 * Every member peer that is not gone (peer-liveness.ts) confirmed this incarnation since the
 * process started, and at least one did when there are peers at all (with every peer gone,
 * nothing says whether this node id had an earlier incarnation). A gone peer holds back
 * nothing else either; when it comes back it hears the announcement, rewinds its stream to
 * this node and, if its log was truncated meanwhile, refills it by anti-entropy. Peers that
 * left (or were replaced) are no longer in `others`; their old confirmations do not count.
 */
export function everyPeerConfirmed(node: NodeContext): boolean {
  const inc = node.incarnation;
  let heard = 0;
  for (const peer of node.others) {
    if (inc.heardFrom.has(peer)) heard++;
    else if (!node.change.gone.has(peer)) return false;
  }
  return heard > 0 || node.others.length === 0;
}

/**
 * Whether a node that is not sound may answer a read from its own state: only while the signs
 * say it is the first incarnation of its node id (a new planet, or a node added), so there is
 * no history to miss. It is still "new" (no peer knew an earlier incarnation) and either a
 * sound peer confirmed it (a sound peer that ran beside an earlier incarnation would have said
 * so), or every other replica of its site is up, confirmed it and is new itself (a planet
 * whose nodes all start together). A node that is refilling, or new with nobody to vouch for
 * it, may miss acknowledged writes and refuses (read-path.ts).
 */
export function mayAnswerUnsound(node: NodeContext, siteReplicas: readonly string[]): boolean {
  const inc = node.incarnation;
  if (inc.phase === "sound" || inc.pulled) return true;
  if (inc.phase !== "new") return false;
  for (const peer of inc.heardFrom) {
    const announcedSound = node.storage.meta(`${peerMetaPrefix}${peer}`) !== undefined && !inc.peersRefilling.has(peer);
    if (announcedSound && node.others.includes(peer)) return true;
  }
  if (node.others.length > 0 && inc.knownBy.size === 0) return false;
  return siteReplicas.every(
    (n) => n === node.id || (inc.knownBy.has(n) && node.transport.isUp(n) && inc.peersRefilling.has(n)),
  );
}

/** The incarnation id of a peer as this node last heard it announced (undefined: never). */
export function knownIncarnationOf(node: NodeContext, peer: string): string | undefined {
  return node.storage.meta(`${peerMetaPrefix}${peer}`);
}

/** A peer went down: its confirmation held for that connection only. */
export function forgetConfirmation(node: NodeContext, peer: string): void {
  node.incarnation.knownBy.delete(peer);
  node.incarnation.confirmed.delete(peer);
  node.incarnation.announcedMs.delete(peer);
}

/**
 * A peer's announcement. A new incarnation of it gets this node's stream from the start of
 * the log (its old one acknowledged entries the new one never had) and a fresh inbound
 * stream position (its log starts over); one that is refilling is not believed past what
 * this node had from it already.
 */
export function onAnnounce(node: NodeContext, from: string, callId: string, id: string, phase: string): void {
  if (typeof id !== "string" || id.length === 0 || id.length > 64) throw new Error("malformed incarnation id");
  if (phase !== "refilling" && phase !== "sound") throw new Error("malformed incarnation phase");
  const metaName = `${peerMetaPrefix}${from}`;
  // Which incarnation of the peer replaced an earlier one, so a lost answer asked again still says so.
  const rebornName = `${rebornMetaPrefix}${from}`;
  const known = node.storage.meta(metaName);
  const changed = known !== id;
  if (changed) {
    const stream = node.out.get(from);
    stream?.restart(node.clock.monoMs());
    const meta: [string, string][] = [[metaName, id]];
    if (known !== undefined) meta.push([rebornName, id]);
    node.storage.commit({ meta, cursors: stream ? [[from, 0]] : [] });
    if (stream) node.cursorsSaved.set(from, 0);
    node.expect.delete(from);
    if (known !== undefined) {
      node.m.peerRebirths.inc();
      node.log.warn("a peer came back as a new incarnation (its disk was lost): it is refilled", {
        peer: from,
        was: known,
        now: id,
      });
    }
  }
  if (phase === "refilling") {
    if (!node.incarnation.peersRefilling.has(from)) {
      node.incarnation.peersRefilling.set(from, node.recv.get(from) ?? 0);
    }
    node.completeOf.set(from, 0);
  } else {
    node.incarnation.peersRefilling.delete(from);
  }
  node.transport.send(from, ["incok", callId, id, node.storage.meta(rebornName) === id, phase]);
  // The peer's link to this node is up (this came over it): if the peer has not confirmed
  // this node yet (an answer lost while that link was down), ask again now, not on the next round.
  if (node.incarnation.phase !== "sound" && !node.incarnation.knownBy.has(from)) announce(node, { peers: [from] });
}

/** What this node may claim to have received from a peer: not more than it had when the peer said it was refilling. */
export function recvClaim(node: NodeContext, peer: string): number {
  const got = node.recv.get(peer) ?? 0;
  const frozen = node.incarnation.peersRefilling.get(peer);
  return frozen === undefined ? got : Math.min(got, frozen);
}

/**
 * A replica of this site, up, that knows this incarnation and is not refilling itself: it
 * holds the history a refilling node is still pulling (its keys and its dedup table).
 */
export function historyHolderNow(node: NodeContext, local: readonly string[]): string | undefined {
  const inc = node.incarnation;
  return local.find((n) => inc.knownBy.has(n) && node.transport.isUp(n) && !inc.peersRefilling.has(n));
}
