// This node's key states and outbound log as the engine sees them: committed states behind
// a cache of recently used keys, this turn's changes in an overlay, and one group commit per
// turn of the event loop that writes the changed rows, the new log entries and their dedup
// rows in a single SQLite transaction. (The HLC is not written with them: the lease in
// hlc-lease.ts persists a ceiling that every stamp stays below, which is all a restart needs.)
// The newest log entries stay in memory (the tail), so streams read them without touching
// the disk.
import { type Clock, isRedshirtError, type Logger } from "../../core/index.ts";
import { contains, decodeState, digest, type KeyState, merge, nextExpiryMs, opIdsOf } from "../crdt/crdt.ts";
import { type HybridClock, hlcFromWallMs, hlcWallMs } from "../crdt/hlc.ts";
import type { DedupRow, KeyRow, LogAppend, LogEntry, Storage } from "../storage/storage.ts";
import { storageErrors } from "../storage-errors.ts";
import { dirtyKeysMax, logTailMax, stateCacheKeysMax } from "./engine-constants.ts";
import type { HashTrees } from "./merkle.ts";
import type { NodeMetrics } from "./node-metrics.ts";
import { compactAt, settleMerged } from "./settled.ts";
import { SettlingKeys } from "./settling-keys.ts";
import { StagedRow } from "./staged-row.ts";
import { needsCompaction, sameRepresentation } from "./state-shape.ts";

type Entry = { state: KeyState | undefined; row: KeyRow | undefined };

export type LocalStateInit = {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly log: Logger;
  readonly hlc: HybridClock;
  readonly trees: HashTrees;
  readonly m: NodeMetrics;
  /** Runs fn after the current turn (group commit). */
  readonly defer: (fn: () => void) => void;
  /** How long op ids are remembered (the planet's store.dedupWindowS, in ms). */
  readonly dedupWindowMs: number;
  /** The stability point (node.stable): merges compact the states they rewrite at it. */
  readonly stable: () => number;
  /** Called after a commit that appended to the log, so the streams send the new entries. */
  readonly onAppended: () => void;
};

export class LocalState {
  readonly #d: LocalStateInit;
  /** Recently used committed states, so a hot key is neither read from SQLite nor decoded again. */
  readonly #cache = new Map<string, Entry>();
  // Group commit: what this turn changed, committed at once by flush().
  #overlay = new Map<string, Entry>();
  #puts = new Map<string, KeyRow | undefined>();
  #appends: LogAppend[] = [];
  /** Dedup rows of this turn's ops, by op id NUL key (committed with them). */
  #dedup = new Map<string, DedupRow>();
  #appendWaiters: ((seq: number | Error) => void)[] = [];
  #afterCommit: ((err?: Error) => void)[] = [];
  /** Hash tree and compaction-list changes of this turn's puts, made once they are on disk. */
  #afterPuts: (() => void)[] = [];
  #flushScheduled = false;
  /** The largest state a commit wrote since takeLargestStateBytes last ran. */
  #largestStateBytes = 0;
  #tail: LogEntry[] = [];
  /** Keys written here or taken from a stream a moment ago: anti-entropy leaves them to the streams. */
  readonly settling = new SettlingKeys();
  /** Keys with something to compact (counter ops, tombstones, dedup ids), oldest first. */
  readonly dirty = new Map<string, { partition: number; sinceMs: number }>();

  constructor(init: LocalStateInit) {
    this.#d = init;
  }

  getRow(key: string): KeyRow | undefined {
    const o = this.#overlay.get(key);
    return o ? o.row : this.#d.storage.getKey(key);
  }

  getState(key: string): KeyState | undefined {
    return this.getEntry(key).state;
  }

  /** A key's state and its stored row (with the digest), from this turn's changes or the disk. */
  getEntry(key: string): Entry {
    const o = this.#overlay.get(key);
    if (o) return o;
    const cached = this.#cache.get(key);
    if (cached) {
      // Refresh its place: the map's insertion order is the eviction order.
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const row = this.#d.storage.getKey(key);
    const entry = { state: row ? decodeState(row.state) : undefined, row };
    if (row) this.#remember(key, entry);
    return entry;
  }

  /** Keeps a committed state in the cache of recently used keys (states are never mutated in place). */
  #remember(key: string, entry: Entry): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > stateCacheKeysMax) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  /** An op id applied to a key within the dedup window (this turn's, or committed). */
  getDedup(key: string, opId: string): DedupRow | undefined {
    return this.#dedup.get(`${opId}\u0000${key}`) ?? this.#d.storage.getDedup(key, opId);
  }

  /** Records an op id with the op's commit: a retry of it is answered, not applied again. */
  putDedup(row: DedupRow): void {
    const id = `${row.opId}\u0000${row.key}`;
    if (!this.#dedup.has(id)) this.#dedup.set(id, row);
    this.#scheduleFlush();
  }

  /** The largest key state written since the last call (bytes), for the gauge the tick sets once a second. */
  takeLargestStateBytes(): number {
    const largest = this.#largestStateBytes;
    this.#largestStateBytes = 0;
    return largest;
  }

  /** Stages a key's new state for the next commit; `known` saves work the caller already did. */
  putState(
    key: string,
    partition: number,
    state: KeyState | undefined,
    known?: { old: KeyRow | undefined; digest: number },
  ): void {
    const old = known ? known.old : this.getRow(key);
    let row: KeyRow | undefined;
    if (state) {
      // Encoded at the commit (or when read first): a key put again before it is encoded once.
      row = new StagedRow(key, partition, state, known ? known.digest : digest(state), nextExpiryMs(state));
    }
    const oldDigest = old?.digest ?? 0;
    const newDigest = row?.digest ?? 0;
    const compactable = state !== undefined && needsCompaction(state);
    this.#afterPuts.push(() => {
      this.#d.trees.update(partition, key, oldDigest, newDigest);
      // A key written again goes to the back of the list: the sweeper takes only keys quiet
      // for sweepDelayMs, since every write and merge compacts the key it rewrites anyway (a
      // second rewrite of each written key a second later was ~6 % of a node's CPU).
      const had = this.dirty.delete(key);
      if (compactable && (had || this.dirty.size < dirtyKeysMax)) {
        this.dirty.set(key, { partition, sinceMs: this.#d.clock.monoMs() });
      }
    });
    this.#overlay.set(key, { state, row });
    this.#puts.set(key, row);
    this.#scheduleFlush();
  }

  /** Merges a state or delta from a peer. Returns true when it changed this replica. */
  mergeRemote(
    key: string,
    partition: number,
    remote: KeyState | undefined,
    kind: "replicate" | "repair" | "refill",
  ): boolean {
    const { state: local, row } = this.getEntry(key);
    // What it holds already changes nothing: no copy, digest or comparison of the whole state.
    if (local && remote && contains(local, remote)) return false;
    const merged = merge(local, remote);
    const before = row?.digest ?? 0;
    const after = merged ? digest(merged) : 0;
    if (merged && local && before === after && sameRepresentation(local, merged)) return false;
    if (remote) this.#learnOpIds(key, partition, local, remote);
    if (kind === "replicate") this.settling.noteChanged(key, this.#d.clock.monoMs());
    if (local && before !== after) {
      this.#d.m.conflicts.inc({ kind });
      if (kind === "repair") this.#d.m.repairs.inc({ kind: "anti-entropy" });
    }
    // Rewritten anyway: compacted at the stability point first, as the coordinator does
    // before it applies a write (the sweeper would do the same a moment later, with a
    // second rewrite). A compaction that would drop the key is left to the sweeper.
    const stable = this.#d.stable();
    if (merged && local && remote) settleMerged(local, remote, merged, stable);
    if (merged && stable > 0 && needsCompaction(merged)) {
      // Past every HLC this node observed (so past the gossip that taught it `stable`): what
      // compaction records as the HLC at which it learned that stability point.
      const nowH = Math.max(this.#d.hlc.last + 1, hlcFromWallMs(Math.floor(this.#d.clock.nowMs())));
      const compacted = compactAt(merged, stable, nowH);
      if (compacted) {
        this.putState(key, partition, compacted, {
          old: row,
          digest: compacted === merged ? after : digest(compacted),
        });
        return true;
      }
    }
    this.putState(key, partition, merged, { old: row, digest: after });
    return true;
  }

  /**
   * A replica learns the op ids of what it merges (those its state did not hold yet), so a
   * retry that reaches it, in any site, long after the ids folded out of the state is still
   * recognised. Ids older than the window are not worth a row.
   */
  #learnOpIds(key: string, partition: number, local: KeyState | undefined, remote: KeyState): void {
    const oldestMs = this.#d.clock.nowMs() - this.#d.dedupWindowMs;
    for (const [opId, h] of opIdsOf(remote)) {
      if (hlcWallMs(h) < oldestMs) continue;
      if (local && (opId in local.ops || opId in local.done)) continue;
      this.putDedup({ opId, key, partition, h, answer: "" });
    }
  }

  /** Appends an entry to the outbound log with the next commit; resolves with its seq. */
  append(entry: LogAppend): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#appends.push(entry);
      this.#appendWaiters.push((seq) => (typeof seq === "number" ? resolve(seq) : reject(seq)));
      this.#scheduleFlush();
    });
  }

  /** Runs fn after the next commit; with the error when that commit failed (nothing of it was applied). */
  afterNextCommit(fn: (err?: Error) => void): void {
    this.#afterCommit.push(fn);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#d.defer(() => this.flush());
  }

  flush(): void {
    this.#flushScheduled = false;
    const { storage, m } = this.#d;
    const puts = this.#puts;
    const appends = this.#appends;
    const waiters = this.#appendWaiters;
    const after = this.#afterCommit;
    const dedup = this.#dedup;
    const afterPuts = this.#afterPuts;
    this.#afterPuts = [];
    if (puts.size === 0 && appends.length === 0 && after.length === 0 && dedup.size === 0) return;
    this.#dedup = new Map();
    this.#puts = new Map();
    this.#appends = [];
    this.#appendWaiters = [];
    this.#afterCommit = [];
    let seqs: number[] = [];
    if (puts.size > 0 || appends.length > 0 || dedup.size > 0) {
      const rows: KeyRow[] = [];
      const deletes: string[] = [];
      for (const [key, row] of puts) {
        if (row) rows.push(row);
        else deletes.push(key);
        if (row && row.state.byteLength > this.#largestStateBytes) this.#largestStateBytes = row.state.byteLength;
      }
      try {
        m.commits.inc();
        m.committedKeys.inc(undefined, rows.length + deletes.length);
        seqs = storage.commit({
          puts: rows,
          deletes,
          appends,
          dedup: [...dedup.values()],
        });
      } catch (cause) {
        // Nothing of the batch is on disk: forget this turn's states (reads go to the disk
        // again), leave the hash trees and compaction lists as they were, and fail every
        // waiter with a definite error; a stream batch is not acknowledged (its callback
        // rewinds the stream), so no later commit acknowledges what this one lost.
        this.#overlay.clear();
        m.commitFailures.inc();
        const err = isRedshirtError(cause, "RS_ERR_STORE_DISK_WRITE")
          ? (cause as Error)
          : storageErrors.create("RS_ERR_STORE_DISK_WRITE", "the commit to disk failed", { cause });
        this.#d.log.error("commit failed", { err: cause as Error });
        for (const w of waiters) w(err);
        for (const fn of after) fn(err);
        return;
      }
    }
    for (const fn of afterPuts) fn();
    for (const [key, entry] of this.#overlay) {
      if (entry.row) this.#remember(key, entry);
      else this.#cache.delete(key);
    }
    this.#overlay.clear();
    for (let i = 0; i < appends.length; i++) {
      this.#tail.push({ ...appends[i], seq: seqs[i] });
      waiters[i](seqs[i]);
    }
    // Trimmed in chunks: copying the whole tail on every commit would cost more than the commit.
    if (this.#tail.length > 2 * logTailMax) this.#tail = this.#tail.slice(this.#tail.length - logTailMax);
    for (const fn of after) fn();
    if (appends.length > 0) this.#d.onAppended();
  }

  /** Log entries after `afterSeq`, from the in-memory tail when it reaches back that far. */
  readLog = (afterSeq: number, limit: number): readonly LogEntry[] => {
    const tail = this.#tail;
    if (tail.length > 0 && afterSeq >= tail[0].seq - 1) {
      let lo = 0;
      let hi = tail.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (tail[mid].seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      return tail.slice(lo, lo + limit);
    }
    return this.#d.storage.readLog(afterSeq, limit);
  };

  /** The HLC up to which this node's log is complete: nothing stamped at or before it is still to be appended. */
  safeHlc(): number {
    let min = this.#d.hlc.last;
    for (const a of this.#appends) if (a.lh - 1 < min) min = a.lh - 1;
    return min;
  }
}
