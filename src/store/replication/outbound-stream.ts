// One replication stream: this node's outbound log, delivered in order to one peer.
// The peer acknowledges a position only after it has committed every entry up to it, so
// the acknowledged cursor is also the peer's hint queue: whatever lies past it is resent
// after a reconnect, a lost batch (go-back-N on a nack or a timeout) or a restart of either
// side (the cursor is persisted).

import type { LogEntry } from "../storage/storage.ts";
import type { WireMessage } from "../wire/transport.ts";
import {
  streamBatchBytesMax,
  streamBatchEntriesMax,
  streamInflightMax,
  streamScanMax,
  streamTimeoutMs,
} from "./engine-constants.ts";

/** A replication batch on the wire: ["rep", afterSeq, upToSeq, lh, entries[[key, partition, payload]]]. */
export type RepEntry = readonly [key: string, partition: number, payload: Uint8Array];

export class OutboundStream {
  readonly peer: string;
  /** The last seq the peer acknowledged (committed). */
  acked: number;
  /** The last seq sent (scanned); entries between acked and sent are in flight. */
  sent: number;
  /** Times the stream started over for a new incarnation of the peer (relayed legs name the incarnation). */
  restarts = 0;
  /** The upTo of each batch in flight, in order. */
  #inflight: number[] = [];
  #lastProgressMs: number;
  #lastSendMs = Number.NEGATIVE_INFINITY;
  /** Set when the peer asked to go back below `acked`: what the next batch says it follows (see rewind). */
  #followsFrom: number | undefined;

  constructor(peer: string, cursor: number, nowMs: number) {
    this.peer = peer;
    this.acked = cursor;
    this.sent = cursor;
    this.#lastProgressMs = nowMs;
  }

  get inflightBatches(): number {
    return this.#inflight.length;
  }

  /** The peer committed everything up to `upTo`. Returns true if the cursor moved. */
  onAck(upTo: number, nowMs: number): boolean {
    while (this.#inflight.length > 0 && this.#inflight[0] <= upTo) this.#inflight.shift();
    if (upTo <= this.acked) return false;
    this.acked = upTo;
    if (this.sent < upTo) this.sent = upTo;
    this.#lastProgressMs = nowMs;
    return true;
  }

  /**
   * The peer expects the stream to continue after `expect`: resend from there. A peer that
   * asks for less than it acknowledged holds those entries all the same (it acknowledged them
   * once they were on its disk) but has lost track of how far it got, or the stream skipped
   * them (they left the log while the peer was gone: anti-entropy refills it). Sending them
   * from the cursor again would be nacked again, for ever; so the next batch starts at the
   * cursor but says it follows on from `expect`.
   */
  rewind(expect: number, nowMs: number): void {
    this.sent = Math.max(this.acked, Math.min(expect, this.sent));
    this.#followsFrom = expect < this.acked ? expect : undefined;
    this.#inflight = [];
    this.#lastProgressMs = nowMs;
  }

  /** Entries up to `seq` are no longer in the log: continue after them (the peer is refilled otherwise). */
  skipTo(seq: number, nowMs: number): void {
    if (seq > this.acked) this.acked = seq;
    this.rewind(this.acked, nowMs);
  }

  /**
   * The peer is a new incarnation (its disk was lost): everything still in the log is sent
   * to it again, from the start. The caller persists the cursor.
   */
  restart(nowMs: number): void {
    this.restarts++;
    this.acked = 0;
    this.sent = 0;
    this.#followsFrom = undefined;
    this.#inflight = [];
    this.#lastProgressMs = nowMs;
  }

  /** Forget what is in flight (the connection broke) and resend from the cursor. */
  reset(nowMs: number): void {
    this.rewind(this.acked, nowMs);
  }

  /** Batches in flight with no progress for too long are presumed lost: resend. Returns true when it gave up on them. */
  checkTimeout(nowMs: number): boolean {
    if (this.#inflight.length === 0 || nowMs - this.#lastProgressMs <= streamTimeoutMs) return false;
    this.reset(nowMs);
    return true;
  }

  /**
   * Builds the next batch as a direct "rep" message (see nextBatch), or undefined when there
   * is nothing to send.
   */
  next(
    read: (afterSeq: number, limit: number) => readonly LogEntry[],
    lastSeq: number,
    clockHlc: number,
    nowMs: number,
    heartbeatDue: (lastSendMs: number) => boolean,
  ): WireMessage | undefined {
    const batch = this.nextBatch(read, lastSeq, clockHlc, nowMs, heartbeatDue);
    if (!batch) return undefined;
    const entries: RepEntry[] = batch.entries.map((e) => [e.key, e.partition, e.payload]);
    return ["rep", batch.after, batch.upTo, batch.lh, entries];
  }

  /**
   * Builds the next batch from log entries after `sent`, or a heartbeat when the stream
   * has caught up and `heartbeatDue`. `lastSeq` is the log's end and `clockHlc` this
   * node's HLC: a batch that reaches the end of the log promises that nothing stamped at
   * or before `clockHlc` is still to come. The batch counts as sent (in flight).
   */
  nextBatch(
    read: (afterSeq: number, limit: number) => readonly LogEntry[],
    lastSeq: number,
    clockHlc: number,
    nowMs: number,
    heartbeatDue: (lastSendMs: number) => boolean,
  ): StreamBatch | undefined {
    if (this.#inflight.length >= streamInflightMax) return undefined;
    const after = this.sent;
    const follows = this.#followsFrom ?? after;
    if (after >= lastSeq) {
      if (!heartbeatDue(this.#lastSendMs)) return undefined;
      this.#followsFrom = undefined;
      this.#lastSendMs = nowMs;
      this.#inflight.push(after);
      if (this.#inflight.length === 1) this.#lastProgressMs = nowMs;
      return { after: follows, upTo: after, lh: clockHlc, entries: [] };
    }
    this.#followsFrom = undefined;
    const scanned = read(after, streamScanMax);
    const entries: LogEntry[] = [];
    let upTo = after;
    let lh = 0;
    let bytes = 0;
    for (const e of scanned) {
      if (e.targets.includes(this.peer)) {
        if (
          entries.length >= streamBatchEntriesMax ||
          (entries.length > 0 && bytes + e.payload.length > streamBatchBytesMax)
        )
          break;
        entries.push(e);
        bytes += e.payload.length;
      }
      upTo = e.seq;
      lh = e.lh;
    }
    if (scanned.length === 0) upTo = lastSeq;
    // Reaching the end of the log: nothing stamped up to the current clock is missing.
    if (upTo >= lastSeq) lh = clockHlc;
    this.sent = upTo;
    this.#lastSendMs = nowMs;
    if (this.#inflight.length === 0) this.#lastProgressMs = nowMs;
    this.#inflight.push(upTo);
    return { after: follows, upTo, lh, entries };
  }
}

/** One stream batch: the entries after `after` up to `upTo` that are the peer's, and the HLC they promise. */
export type StreamBatch = {
  readonly after: number;
  readonly upTo: number;
  readonly lh: number;
  readonly entries: readonly LogEntry[];
};
