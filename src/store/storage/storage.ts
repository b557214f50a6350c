// The store node's durable state, behind one synchronous interface so the engine runs the
// same over SQLite (production, `node:sqlite`) and over an in-memory "disk" (the
// deterministic simulation). node:sqlite is synchronous, so is this: the engine batches
// everything that happened in one turn of the event loop into one commit (group commit)
// and acknowledges only after commit() returned.
//
// What is stored:
// - keys: one row per key: its partition, its CRDT state (msgpack bytes, opaque here), the
//   state's digest for anti-entropy, and when it expires (0: never).
// - log: this node's outbound replication log. Every op this node coordinates (or holds as
//   a hint for a peer that was down) is appended here in the same commit that applies it.
//   Each entry is streamed to its target peers in seq order; a peer's cursor is the last
//   seq it acknowledged. Entries every target acknowledged can be truncated.
// - cursors: per peer, the last log seq it acknowledged.
// - dedup: op ids applied here (coordinated, or learned with a replicated op), with the key,
//   the op's HLC and the answer its coordinator gave, so a retry within the planet's
//   `store.dedupWindowS` is recognised long after the op's id folded out of the key's state.
//   Written in the same commit as the op; expired by age in batches.
// - meta: small named values (e.g. the HLC lease, so time never goes backwards across a
//   restart).

export type KeyRow = {
  readonly key: string;
  /**
   * The key's partition: a function of the key, so it never changes for a key. An update
   * of a stored key may keep the partition it was first written with (SQLite does: leaving
   * it out of the upsert's SET spares a write to the partition index, half the pages of an
   * update).
   */
  readonly partition: number;
  readonly state: Uint8Array;
  /** 32-bit unsigned digest of the state, for the anti-entropy hash trees. */
  readonly digest: number;
  /** Wall-clock ms when the key expires; 0 for never. */
  readonly expiresAtMs: number;
};

export type KeyDigest = { readonly key: string; readonly digest: number };

export type LogAppend = {
  readonly partition: number;
  readonly key: string;
  /** The log owner's HLC when appended: non-decreasing along the log. */
  readonly lh: number;
  /** Node ids this entry must reach. */
  readonly targets: readonly string[];
  /** The op, msgpack-encoded by the engine; opaque here. */
  readonly payload: Uint8Array;
};

export type LogEntry = LogAppend & { readonly seq: number };

/** Where a page of dedup rows ends: the (h, opId, key) of its last row. */
export type DedupCursor = readonly [h: number, opId: string, key: string];

/** An op id applied on this node: a retry of it within the dedup window is not applied again. */
export type DedupRow = {
  readonly opId: string;
  readonly key: string;
  readonly partition: number;
  /** The op's HLC (its coordinator's stamp); rows expire by its wall time. */
  readonly h: number;
  /** The answer the coordinator gave (JSON of the value), or "" when not kept (a replica, or too large). */
  readonly answer: string;
};

export type CommitBatch = {
  readonly puts?: readonly KeyRow[];
  readonly deletes?: readonly string[];
  readonly appends?: readonly LogAppend[];
  readonly cursors?: ReadonlyArray<readonly [peer: string, seq: number]>;
  readonly meta?: ReadonlyArray<readonly [name: string, value: string]>;
  /** Inserted when (opId, key) is not there yet: the first answer recorded stays. */
  readonly dedup?: readonly DedupRow[];
};

export interface Storage {
  /** Applies a batch atomically and durably (survives SIGKILL of the process once returned). Returns the seqs assigned to `appends`, in order. */
  commit(batch: CommitBatch): number[];
  getKey(key: string): KeyRow | undefined;
  /** Keys of a partition in key order after `afterKey` (exclusive), at most `limit`. */
  scanPartition(partition: number, afterKey: string | undefined, limit: number): KeyRow[];
  /**
   * The keys of a partition in key order after `afterKey` (exclusive) with their digests,
   * at most `limit`: what anti-entropy pages through, without reading the state blobs.
   */
  scanDigests(partition: number, afterKey: string | undefined, limit: number): KeyDigest[];
  /** Every key's digest, for rebuilding hash trees at start: calls fn per key. */
  forEachDigest(fn: (key: string, partition: number, digest: number) => void): void;
  /** Keys whose expiresAtMs is in (0, nowMs], at most `limit`. */
  expired(nowMs: number, limit: number): KeyRow[];
  /** Log entries with seq > afterSeq in seq order, at most `limit`. */
  readLog(afterSeq: number, limit: number): LogEntry[];
  /** The highest seq ever assigned (0 if none); never decreases, even after truncation. */
  lastSeq(): number;
  /** Deletes log entries with seq <= uptoSeq. */
  truncateLog(uptoSeq: number): void;
  /** Number of entries currently in the log (hints and unacknowledged entries). */
  logLength(): number;
  cursors(): Map<string, number>;
  /** The dedup row of an op id on a key, if it is still kept. */
  getDedup(key: string, opId: string): DedupRow | undefined;
  /** Deletes at most `limit` dedup rows with h < beforeH; returns how many went. */
  expireDedup(beforeH: number, limit: number): number;
  /**
   * At most `limit` dedup rows after `after`, in (h, opId, key) order: a refilling node pages
   * through a peer's table with it (the last row of a page is the next page's `after`).
   */
  scanDedup(after: DedupCursor | undefined, limit: number): DedupRow[];
  /** Dedup rows kept (counted, not scanned). */
  dedupCount(): number;
  meta(name: string): string | undefined;
  /** Bytes used on disk (or in memory), for push-back when space runs short. */
  sizeBytes(): number;
  /** Housekeeping that must not stall the event loop for long (e.g. a passive WAL checkpoint). */
  maintain(): void;
  close(): void;
}
