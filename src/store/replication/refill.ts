// The bulk refill of a new incarnation (incarnation.ts says why): every partition this node
// replicates is pulled from every other replica of it, in pages of whole key states read
// straight from SQLite in key order ("fill" / "fillres"), and merged here; then this node's
// union is pushed back to each of them the same way ("fillput" / "fillputres", confirmed
// once on the peer's disk), so whatever the lost incarnation had sent to only some replicas
// reaches all. A page is bounded in keys and bytes, one page per (partition, peer) transfer
// is in flight and at most refillTransfersInflightMax transfers run at once, and the next
// page is asked for only once the last one is committed: memory stays bounded and the
// transfer runs at disk or network speed, not at anti-entropy's pace.
//
// It starts once every peer confirmed the incarnation (so none still truncates entries the
// new incarnation needs from its log); a transfer whose peer is down or does not answer is
// tried again from its last page. Only when every transfer is done is the node "sound".
// Peers that are gone (store.deadPeerAfterS) or no longer members are neither waited for nor
// pulled from, as long as every partition was pulled from some replica.
import { decodeState } from "../crdt/crdt.ts";
import type { KeyRow } from "../storage/storage.ts";
import type { WireMessage } from "../wire/transport.ts";
import {
  refillCallTimeoutMs,
  refillPageBytesMax,
  refillPageKeysMax,
  refillTransfersInflightMax,
} from "./engine-constants.ts";
import { announce, everyPeerConfirmed, incarnationPhaseMetaName, unconfirmedMeta } from "./incarnation.ts";
import type { NodeContext } from "./node-context.ts";
import { type DedupTransfer, dedupTransfersOf, stepDedup } from "./refill-dedup.ts";

type Transfer = {
  readonly partition: number;
  readonly peer: string;
  readonly direction: "pull" | "push";
  /** The last key transferred (the next page starts after it). */
  afterKey: string | undefined;
  busy: boolean;
  done: boolean;
};

export type RefillJob = {
  readonly transfers: Transfer[];
  /** Pull stage: each peer's dedup table (refill-dedup.ts); empty in the push stage. */
  readonly dedup: DedupTransfer[];
  stage: "pull" | "push";
};

/** Page rows: [key, state bytes]. */
type PageRow = readonly [key: string, state: Uint8Array];

/** Drives the refill from the tick: starts it once every peer confirmed, and keeps transfers going. */
export function refillTick(node: NodeContext): void {
  const inc = node.incarnation;
  if (inc.phase !== "refilling" || node.state !== "running") return;
  if (!node.refill) {
    if (!everyPeerConfirmed(node)) return;
    const transfers = transfersOf(node, "pull");
    node.refill = { transfers, dedup: dedupTransfersOf(transfers.map((t) => t.peer)), stage: "pull" };
    inc.refill.startedMs = node.clock.monoMs();
    node.log.info("refill started", { node: node.id, transfers: node.refill.transfers.length });
  }
  const job = node.refill;
  let busy = 0;
  for (const t of job.transfers) if (t.busy) busy++;
  for (const t of job.transfers) {
    if (busy >= refillTransfersInflightMax) break;
    if (t.done || t.busy || skipped(node, t) || !node.transport.isUp(t.peer)) continue;
    busy++;
    step(node, t);
  }
  for (const t of job.dedup) {
    if (busy >= refillTransfersInflightMax) break;
    if (t.done || t.busy || skippedPeer(node, t.peer) || !node.transport.isUp(t.peer)) continue;
    busy++;
    stepDedup(node, t, () => refillTick(node));
  }
  if (!finished(node, job)) return;
  if (job.stage === "pull") {
    inc.pulled = true;
    inc.refill.pulledMs = node.clock.monoMs() - inc.refill.startedMs;
    node.refill = { transfers: transfersOf(node, "push"), dedup: [], stage: "push" };
    return;
  }
  becomeSound(node);
}

/**
 * A transfer with a peer that is gone (peer-liveness.ts) or no longer a member is not waited
 * for: such a peer holds back nothing else either. Whatever it holds that the others lack
 * reaches this node when it comes back (it hears the announcement, rewinds its stream to this
 * incarnation, and anti-entropy covers what its log no longer has).
 */
function skipped(node: NodeContext, t: Transfer): boolean {
  return skippedPeer(node, t.peer);
}

function skippedPeer(node: NodeContext, peer: string): boolean {
  return node.change.gone.has(peer) || !node.others.includes(peer);
}

/**
 * Every transfer is done or skipped, and every partition was pulled from at least one replica
 * (with every other replica of a partition gone there is nothing to refill it from: wait).
 */
function finished(node: NodeContext, job: RefillJob): boolean {
  const pulledFrom = new Set<number>();
  const wanted = new Set<number>();
  for (const t of job.transfers) {
    if (!t.done && !skipped(node, t)) return false;
    wanted.add(t.partition);
    if (t.done) pulledFrom.add(t.partition);
  }
  for (const t of job.dedup) if (!t.done && !skippedPeer(node, t.peer)) return false;
  if (job.stage === "push") return true;
  for (const p of wanted) if (!pulledFrom.has(p)) return false;
  return true;
}

function transfersOf(node: NodeContext, direction: "pull" | "push"): Transfer[] {
  const out: Transfer[] = [];
  for (const partition of node.mine) {
    for (const nodes of node.replicas[partition].values()) {
      for (const peer of nodes) {
        if (peer !== node.id) out.push({ partition, peer, direction, afterKey: undefined, busy: false, done: false });
      }
    }
  }
  return out;
}

function becomeSound(node: NodeContext): void {
  const inc = node.incarnation;
  node.storage.commit({ meta: [[incarnationPhaseMetaName, "sound"], unconfirmedMeta(node)] });
  inc.phase = "sound";
  inc.pulled = true;
  inc.refill.tookMs = node.clock.monoMs() - inc.refill.startedMs;
  node.refill = undefined;
  node.m.refilling.set(0);
  node.log.info("refill done: this incarnation is sound", { node: node.id, ...inc.refill });
  // Peers stop holding back what they claim from this node once they hear it (a peer down
  // now hears it with the announcement on its next connection).
  announce(node, { peers: node.others });
}

/** One page of one transfer: asks for it (pull) or sends it (push), and goes on once it is committed. */
function step(node: NodeContext, t: Transfer): void {
  t.busy = true;
  let answered = false;
  const timer = node.clock.setTimer(refillCallTimeoutMs, () => {
    if (answered) return;
    answered = true;
    node.calls.delete(callId);
    t.busy = false; // asked again from the same page on a later tick
  });
  const finish = (): void => {
    answered = true;
    timer.cancel();
    t.busy = false;
  };
  let pushedLast: string | undefined;
  let pushedMore = false;
  let pushedCount = 0;
  const callId = node.calls.call((reply) => {
    if (answered) return;
    if (t.direction === "pull") {
      if (reply[0] !== "fillres") return finish();
      const rows = reply[2] as PageRow[];
      const next = reply[3] as string | null;
      for (const [key, bytes] of rows) node.local.mergeRemote(key, t.partition, decodeState(bytes), "refill");
      node.incarnation.refill.keysPulled += rows.length;
      node.m.refillKeys.inc({ direction: "pull" }, rows.length);
      node.local.afterNextCommit((err) => {
        finish();
        if (err) return; // the page is asked for again
        t.afterKey = next ?? t.afterKey;
        if (next === null) t.done = true;
        refillTick(node);
      });
      return;
    }
    finish();
    if (reply[0] !== "fillputres") return;
    node.incarnation.refill.keysPushed += pushedCount;
    node.m.refillKeys.inc({ direction: "push" }, pushedCount);
    t.afterKey = pushedLast ?? t.afterKey;
    if (!pushedMore) t.done = true;
    refillTick(node);
  });
  let message: WireMessage;
  if (t.direction === "pull") message = ["fill", callId, t.partition, t.afterKey ?? null];
  else {
    const page = pageOf(node, t.partition, t.afterKey);
    if (page.rows.length === 0) {
      // Nothing (left) to push: no message needed.
      answered = true;
      timer.cancel();
      node.calls.delete(callId);
      t.busy = false;
      t.done = true;
      return;
    }
    pushedLast = page.last;
    pushedMore = page.more;
    pushedCount = page.rows.length;
    message = ["fillput", callId, t.partition, page.rows];
  }
  if (!node.transport.send(t.peer, message)) {
    answered = true;
    timer.cancel();
    node.calls.delete(callId);
    t.busy = false;
  }
}

/** A page of a partition's committed states after `afterKey`, bounded in keys and bytes. */
function pageOf(
  node: NodeContext,
  partition: number,
  afterKey: string | undefined,
): { rows: PageRow[]; last: string | undefined; more: boolean } {
  const scanned: KeyRow[] = node.storage.scanPartition(partition, afterKey, refillPageKeysMax);
  const rows: PageRow[] = [];
  let bytes = 0;
  for (const r of scanned) {
    if (rows.length > 0 && bytes + r.state.byteLength > refillPageBytesMax) break;
    rows.push([r.key, r.state]);
    bytes += r.state.byteLength + r.key.length;
  }
  const more = rows.length < scanned.length || scanned.length === refillPageKeysMax;
  return { rows, last: rows.length > 0 ? rows[rows.length - 1][0] : afterKey, more };
}

/** A refilling peer asks for a page of a partition this node replicates. */
export function onFill(node: NodeContext, from: string, callId: string, partition: number, afterKey: unknown): void {
  checkPartition(node, partition);
  if (afterKey !== null && typeof afterKey !== "string") throw new Error("malformed refill page start");
  const page = pageOf(node, partition, afterKey ?? undefined);
  node.m.refillKeys.inc({ direction: "served" }, page.rows.length);
  node.transport.send(from, ["fillres", callId, page.rows, page.more ? (page.last ?? null) : null]);
}

/** A refilling peer pushes its union back: merged, and confirmed once on disk. */
export function onFillPut(node: NodeContext, from: string, callId: string, partition: number, rows: unknown): void {
  checkPartition(node, partition);
  if (!Array.isArray(rows)) throw new Error("malformed refill page");
  for (const row of rows as PageRow[]) {
    if (!Array.isArray(row) || typeof row[0] !== "string" || !(row[1] instanceof Uint8Array)) {
      throw new Error("malformed refill row");
    }
    node.local.mergeRemote(row[0], partition, decodeState(row[1]), "refill");
  }
  node.m.refillKeys.inc({ direction: "received" }, rows.length);
  node.local.afterNextCommit((err) => err || node.transport.send(from, ["fillputres", callId]));
}

function checkPartition(node: NodeContext, partition: number): void {
  if (!Number.isSafeInteger(partition) || !node.mine.includes(partition)) {
    throw new Error(`refill of partition ${String(partition).slice(0, 20)}, which this node does not replicate`);
  }
}
