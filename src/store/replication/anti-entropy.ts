// Anti-entropy: whatever replication, hints and read repair missed, this finds and repairs
// (docs/store-internals.md, "Anti-entropy"). A round runs between this node and one peer
// replica (in any site, peers taken in turn):
//
//   1. ae-roots: the roots of every partition both replicate;
//   2. ae-diff: the peer answers with the 256 bucket hashes of (up to 16) partitions whose
//      roots differ — none: the round ends, the trees agree;
//   3. ae-keys: per differing partition, this node pages through its keys of the differing
//      buckets only, in key order: a page names up to 1,024 keys with their digests and the
//      key range (after, upto] it covers;
//   4. ae-page: the peer compares that range with its own keys: it sends the states this
//      node lacks or holds differently, names those it wants, and says up to which key it
//      covered the range (it stops early when its own scan, key or byte budget runs out);
//   5. ae-give: this node merges what it got and sends the wanted states; the next page
//      resumes where the peer stopped.
//
// Keys that settle (settling-keys.ts: written or streamed here a moment ago) are left to the
// streams in an ordinary round: the initiator names them with digest -1 and the peer neither
// sends nor asks for them, nor for its own settling keys. A round that met nothing else
// waits antiEntropySettleMs. A round with a preferred peer (a fill, a refill) compares every
// key, and a partition whose paging left a key out never counts as synced.
//
// Every message is bounded (keys scanned, keys named, bytes of states), a round ends after
// 64 pages, only one round is in flight, and within it one page per partition and at most 4
// partitions' pages at once (so a refill is not one round trip per partition). A round that repaired something starts the next
// at once, so a node that was down catches up at disk and network speed; a round in which
// the trees agreed waits 250 ms. The peer keeps no state between messages, so a lost
// message only costs the round its timeout.
import { decodeState, encodeState } from "../crdt/crdt.ts";
import type { WireMessage } from "../wire/transport.ts";
import { answerKeys, answerRoots } from "./anti-entropy-peer.ts";

export type { AntiEntropyDeps } from "./anti-entropy-types.ts";

import { type AntiEntropyDeps, type StateList, settlingDigest } from "./anti-entropy-types.ts";
import {
  antiEntropyIdleMs,
  antiEntropyMessageBytesMax,
  antiEntropyPageKeysMax,
  antiEntropyPagesInflightMax,
  antiEntropyPagesPerRoundMax,
  antiEntropyScanKeysMax,
  antiEntropySettleMs,
  antiEntropyTimeoutMs,
} from "./engine-constants.ts";

type Round = {
  readonly id: number;
  readonly peer: string;
  readonly startMs: number;
  /** The partitions whose roots went out, in order (the peer answers for a prefix of them). */
  readonly partitions: readonly number[];
  lastMs: number;
  pages: number;
  differed: boolean;
  /** A round with a preferred peer (a fill, a refill): every key is compared, settling or not. */
  readonly urgent: boolean;
  /** States received and asked for in this round: none, and its differences were all settling. */
  moved: number;
  /** Partitions still to page through: their differing buckets, where paging resumes, whether a page is out, whether a key was left out. */
  readonly todo: Map<number, { buckets: number[]; after: string | undefined; inflight: boolean; left: boolean }>;
  inflight: number;
};

export class AntiEntropy {
  readonly #d: AntiEntropyDeps;
  #mine: ReadonlySet<number> = new Set();
  /** Per peer, the partitions both replicate. */
  #shared = new Map<string, number[]>();
  #peers: string[] = [];
  #nextPeer: number;
  #round: Round | undefined;
  #roundIds = 0;
  #nextRoundMs = Number.NEGATIVE_INFINITY;
  /** After a round that met only settling keys, ordinary rounds wait until then (a preferred peer's do not). */
  #settleUntilMs = Number.NEGATIVE_INFINITY;
  #nowMs = 0;

  constructor(deps: AntiEntropyDeps) {
    this.#d = deps;
    this.reconfigure(deps.partitions, deps.replicasOf);
    this.#nextPeer = this.#peers.length === 0 ? 0 : deps.random.int(this.#peers.length);
  }

  /** A new placement (membership changed): the partitions held here and their other replicas. */
  reconfigure(partitions: readonly number[], replicasOf: (partition: number) => readonly string[]): void {
    this.#mine = new Set(partitions);
    const shared = new Map<string, number[]>();
    for (const p of partitions) {
      for (const peer of replicasOf(p)) shared.set(peer, [...(shared.get(peer) ?? []), p]);
    }
    this.#shared = shared;
    this.#peers = [...shared.keys()].sort();
    // The round in flight was planned for the old placement: let it end, its answers are checked per partition.
  }

  /** The partitions this node and `peer` both replicate. */
  sharedWith(peer: string): readonly number[] {
    return this.#shared.get(peer) ?? [];
  }

  tick(nowMs: number): void {
    this.#nowMs = nowMs;
    const round = this.#round;
    if (round && nowMs - round.lastMs >= antiEntropyTimeoutMs) {
      this.#d.m.aeRounds.inc({ outcome: "timeout" });
      this.#round = undefined;
    }
    if (!this.#round && nowMs >= this.#nextRoundMs) this.#startRound();
  }

  #startRound(): void {
    const d = this.#d;
    const preferred = (d.preferPeers?.() ?? []).filter((p) => this.#shared.has(p) && d.isUp(p));
    if (preferred.length === 0 && this.#nowMs < this.#settleUntilMs) {
      this.#nextRoundMs = this.#nowMs + antiEntropyIdleMs;
      return;
    }
    const candidates = preferred.length > 0 ? preferred : this.#peers;
    for (let tried = 0; tried < candidates.length; tried++) {
      const peer = candidates[this.#nextPeer++ % candidates.length];
      if (!d.isUp(peer)) continue;
      const partitions = this.#shared.get(peer) ?? [];
      const round: Round = {
        id: ++this.#roundIds,
        peer,
        startMs: this.#nowMs,
        partitions,
        lastMs: this.#nowMs,
        pages: 0,
        differed: false,
        urgent: preferred.length > 0,
        moved: 0,
        todo: new Map(),
        inflight: 0,
      };
      this.#round = round;
      d.send(peer, ["ae-roots", round.id, partitions, partitions.map((p) => d.trees.root(p))]);
      return;
    }
    this.#nextRoundMs = this.#nowMs + antiEntropyIdleMs;
  }

  #endRound(outcome: "agreed" | "repaired" | "capped"): void {
    const round = this.#round;
    // Paged through and nothing moved: every difference was a key still settling.
    const settling = outcome === "repaired" && round !== undefined && round.moved === 0;
    this.#d.m.aeRounds.inc({ outcome: settling ? "settling" : outcome });
    this.#round = undefined;
    if (settling) this.#settleUntilMs = this.#nowMs + antiEntropySettleMs;
    if (outcome === "agreed" || settling) this.#nextRoundMs = this.#nowMs + antiEntropyIdleMs;
    else this.#startRound();
  }

  onMessage(from: string, m: WireMessage): void {
    switch (m[0]) {
      case "ae-roots":
        answerRoots(this.#d, this.#mine, from, m[1] as number, m[2] as number[], m[3] as number[]);
        return;
      case "ae-diff":
        this.#onDiff(from, m[1] as number, m[2] as [number, number[]][], m[3] as number, m[4] as number[]);
        return;
      case "ae-keys":
        answerKeys(
          this.#d,
          this.#mine,
          from,
          m as [string, number, number, number[], string | null, string | null, string[], number[], boolean?],
        );
        return;
      case "ae-page":
        this.#onPage(from, m as [string, number, number, StateList, string[], string | null, boolean?, number?]);
        return;
      case "ae-give":
        this.#merge(m[1] as number, m[2] as StateList);
        return;
      default:
        throw new Error(`unknown anti-entropy message ${String(m[0])}`);
    }
  }

  // ------------------------------------------------------------ the initiator's side

  #onDiff(from: string, roundId: number, diff: [number, number[]][], examined: number, notHeld: number[]): void {
    const round = this.#round;
    if (!round || round.id !== roundId || round.peer !== from) return; // a round given up
    round.lastMs = this.#nowMs;
    const d = this.#d;
    if (d.onSynced) {
      const skip = new Set([...diff.map(([p]) => p), ...(notHeld ?? [])]);
      const n = Number.isSafeInteger(examined) ? Math.min(examined, round.partitions.length) : 0;
      for (let i = 0; i < n; i++) {
        const p = round.partitions[i];
        if (!skip.has(p) && this.#mine.has(p)) d.onSynced(from, p, round.startMs);
      }
    }
    for (const [partition, theirs] of diff) {
      if (!this.#mine.has(partition)) continue;
      const mine = d.trees.buckets(partition);
      const buckets: number[] = [];
      for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) buckets.push(i);
      d.m.aeBucketMismatches.inc(undefined, buckets.length);
      if (buckets.length > 0) round.todo.set(partition, { buckets, after: undefined, inflight: false, left: false });
    }
    if (round.todo.size === 0) {
      this.#endRound("agreed");
      return;
    }
    round.differed = true;
    this.#fill(round);
  }

  /** Keeps up to `antiEntropyPagesInflightMax` partitions' pages out, one per partition. */
  #fill(round: Round): void {
    for (const [partition, todo] of round.todo) {
      if (round.inflight >= antiEntropyPagesInflightMax || round.pages >= antiEntropyPagesPerRoundMax) return;
      if (todo.inflight) continue;
      todo.inflight = true;
      round.inflight++;
      this.#sendPage(round, partition, todo.buckets, todo.after);
    }
  }

  /** Sends the next page of a partition: its keys of the differing buckets after `after`. */
  #sendPage(round: Round, partition: number, buckets: number[], after: string | undefined): void {
    const d = this.#d;
    const wanted = new Set(buckets);
    const rows = d.scanDigests(partition, after, antiEntropyScanKeysMax);
    const keys: string[] = [];
    const digests: number[] = [];
    const leave = round.urgent ? undefined : d.settling;
    let upto: string | null = rows.length === antiEntropyScanKeysMax ? rows[rows.length - 1].key : null;
    for (const row of rows) {
      if (!wanted.has(d.trees.bucketOf(row.key))) continue;
      keys.push(row.key);
      const settles = leave?.(row.key) === true;
      if (settles) {
        const todo = round.todo.get(partition);
        if (todo) todo.left = true;
      }
      digests.push(settles ? settlingDigest : row.digest);
      if (keys.length >= antiEntropyPageKeysMax) {
        upto = row.key;
        break;
      }
    }
    round.pages++;
    d.m.aePages.inc();
    d.send(round.peer, [
      "ae-keys",
      round.id,
      partition,
      buckets,
      after ?? null,
      upto,
      keys,
      digests,
      leave !== undefined,
    ]);
  }

  #onPage(
    from: string,
    [, roundId, partition, states, want, covered, notHeld, left]: [
      string,
      number,
      number,
      StateList,
      string[],
      string | null,
      boolean?,
      number?,
    ],
  ): void {
    // States are merged even for a round given up: a repair is a repair.
    this.#merge(partition, states);
    this.#give(from, partition, want);
    const round = this.#round;
    const todo = round && round.id === roundId && round.peer === from ? round.todo.get(partition) : undefined;
    if (!round || !todo?.inflight) return;
    round.lastMs = this.#nowMs;
    todo.inflight = false;
    round.inflight--;
    round.moved += states.length + want.length;
    if (typeof left === "number" && left > 0) todo.left = true;
    if (covered === null) {
      round.todo.delete(partition);
      // Paged to the end: every key of the differing buckets went where it lacked (unless
      // some were left to the streams).
      if (!notHeld && !todo.left && this.#mine.has(partition)) this.#d.onSynced?.(from, partition, round.startMs);
    } else todo.after = covered;
    if (round.todo.size === 0) this.#endRound("repaired");
    else if (round.pages < antiEntropyPagesPerRoundMax) this.#fill(round);
    else if (round.inflight === 0) this.#endRound("capped");
  }

  /** Sends the states a peer asked for, in messages of bounded size. */
  #give(peer: string, partition: number, want: readonly string[]): void {
    const d = this.#d;
    let batch: StateList = [];
    let bytes = 0;
    for (const key of want) {
      const state = d.stateOf(key);
      if (!state) continue;
      const encoded = encodeState(state);
      batch.push([key, encoded]);
      bytes += encoded.byteLength;
      if (batch.length >= antiEntropyPageKeysMax || bytes >= antiEntropyMessageBytesMax) {
        d.send(peer, ["ae-give", partition, batch]);
        d.m.aeKeys.inc({ direction: "sent" }, batch.length);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) {
      d.send(peer, ["ae-give", partition, batch]);
      d.m.aeKeys.inc({ direction: "sent" }, batch.length);
    }
  }

  #merge(partition: number, states: StateList): void {
    const d = this.#d;
    if (states.length === 0) return;
    if (!this.#mine.has(partition)) {
      // This node no longer holds it (membership moved while the message was on its way).
      d.m.aeRounds.inc({ outcome: "placement-moved" });
      return;
    }
    for (const [key, bytes] of states) {
      d.m.aeKeys.inc({ direction: "received" });
      d.mergeRemote(key, partition, decodeState(bytes));
    }
  }
}
