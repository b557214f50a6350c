// An in-memory "disk" with the same semantics as the SQLite storage, for the deterministic
// simulation: a commit is atomic (checked whole before anything is applied), iteration
// order is deterministic (keys of a partition in SQLite's order), and every byte array is
// copied on the way in and out, so a caller that reuses its buffer cannot corrupt the disk.
//
// A crash is modelled by throwing the engine away and giving its successor `reopen()`: the
// new handle sees everything committed, and the old handle fails on any further use (a
// crashed engine whose timers still run is a bug in the simulation, caught here).
import { assert } from "../../core/index.ts";
import type {
  CommitBatch,
  DedupCursor,
  DedupRow,
  KeyDigest,
  KeyRow,
  LogAppend,
  LogEntry,
  Storage,
} from "../storage/storage.ts";
import {
  checkAppend,
  checkCursor,
  checkDedupRow,
  checkKey,
  checkKeyRow,
  checkLimit,
  checkMeta,
  compareKeys,
} from "../storage/storage-rows.ts";
import { storageErrors } from "../storage-errors.ts";

export type MemoryStorageOptions = {
  /** Simulated disk size: a commit that would grow the data past it fails with RS_ERR_STORE_DISK_WRITE. */
  readonly capacityBytes?: number;
};

const dedupId = (key: string, opId: string): string => `${opId}\u0000${key}`;
const dedupRowBytes = (r: DedupRow): number => rowOverheadBytes + (r.opId.length + r.key.length + r.answer.length) * 2;

type Disk = {
  keys: Map<string, KeyRow>;
  /** Keys of each partition, sorted by compareKeys. */
  partitions: Map<number, string[]>;
  /** Keys with expiresAtMs > 0. */
  expiring: Set<string>;
  /** Entries in seq order. */
  log: LogEntry[];
  lastSeq: number;
  cursors: Map<string, number>;
  meta: Map<string, string>;
  /** Dedup rows by op id NUL key. */
  dedup: Map<string, DedupRow>;
  bytes: number;
  capacityBytes: number;
  /** Bumped by reopen(); a handle of an older generation is dead. */
  generation: number;
};

// Rough per-row overheads, so sizeBytes() grows like a real file would.
const rowOverheadBytes = 48;
const keyRowBytes = (r: KeyRow): number => rowOverheadBytes + r.key.length * 2 + r.state.length;
const logEntryBytes = (e: LogAppend): number =>
  rowOverheadBytes + e.key.length * 2 + e.payload.length + e.targets.reduce((n, t) => n + t.length * 2 + 8, 0);

const copyBytes = (b: Uint8Array): Uint8Array => new Uint8Array(b);
const copyKeyRow = (r: KeyRow): KeyRow => ({
  key: r.key,
  partition: r.partition,
  state: copyBytes(r.state),
  digest: r.digest,
  expiresAtMs: r.expiresAtMs,
});
const copyEntry = (e: LogEntry): LogEntry => ({
  seq: e.seq,
  partition: e.partition,
  key: e.key,
  lh: e.lh,
  targets: [...e.targets],
  payload: copyBytes(e.payload),
});

/** Index of the first element of `sorted` greater than `key` (or equal to it, when `inclusive`). */
function searchKeys(sorted: readonly string[], key: string, inclusive: boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareKeys(sorted[mid], key);
    if (c < 0 || (c === 0 && !inclusive)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first log entry with seq > afterSeq. */
function searchLog(log: readonly LogEntry[], afterSeq: number): number {
  let lo = 0;
  let hi = log.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (log[mid].seq <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryStorage implements Storage {
  #disk: Disk;
  #generation: number;
  #closed = false;
  #failCommits = 0;

  constructor(options: MemoryStorageOptions = {}) {
    this.#disk = {
      keys: new Map(),
      partitions: new Map(),
      expiring: new Set(),
      log: [],
      lastSeq: 0,
      cursors: new Map(),
      meta: new Map(),
      dedup: new Map(),
      bytes: 0,
      capacityBytes: options.capacityBytes ?? Number.POSITIVE_INFINITY,
      generation: 0,
    };
    this.#generation = 0;
  }

  /** The same disk opened again, as by a restarted process; this handle (and any older one) stops working. */
  reopen(): MemoryStorage {
    const next = new MemoryStorage();
    next.#disk = this.#disk;
    next.#generation = ++this.#disk.generation;
    return next;
  }

  /** The next `n` commits fail with RS_ERR_STORE_DISK_WRITE and apply nothing (an I/O error). */
  failNextCommits(n: number): void {
    this.#failCommits = n;
  }

  getDedup(key: string, opId: string): DedupRow | undefined {
    const r = this.#open().dedup.get(dedupId(key, opId));
    return r ? { ...r } : undefined;
  }

  expireDedup(beforeH: number, limit: number): number {
    const d = this.#open();
    checkLimit(limit);
    // Oldest first, as the SQLite index does (the map is small in the simulation).
    const old: [string, DedupRow][] = [];
    // A plain scan (no copy of the whole table): it runs every tick, and rows rarely expire.
    for (const entry of d.dedup) if (entry[1].h < beforeH) old.push(entry);
    old.sort((a, b) => a[1].h - b[1].h);
    const gone = old.slice(0, limit);
    for (const [id, r] of gone) {
      d.dedup.delete(id);
      d.bytes -= dedupRowBytes(r);
    }
    return gone.length;
  }

  dedupCount(): number {
    return this.#open().dedup.size;
  }

  scanDedup(after: DedupCursor | undefined, limit: number): DedupRow[] {
    checkLimit(limit);
    const order = (a: DedupCursor, b: DedupCursor): number =>
      a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0) || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
    const cursor = (r: DedupRow): DedupCursor => [r.h, r.opId, r.key];
    return [...this.#open().dedup.values()]
      .filter((r) => after === undefined || order(cursor(r), after) > 0)
      .sort((a, b) => order(cursor(a), cursor(b)))
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }

  /** Changes the simulated disk size (undefined: unlimited), e.g. to inject "disk full". */
  setCapacityBytes(capacityBytes: number | undefined): void {
    this.#disk.capacityBytes = capacityBytes ?? Number.POSITIVE_INFINITY;
  }

  commit(batch: CommitBatch): number[] {
    const d = this.#open();
    const puts = batch.puts ?? [];
    const deletes = batch.deletes ?? [];
    const appends = batch.appends ?? [];
    const cursors = batch.cursors ?? [];
    const meta = batch.meta ?? [];
    // Check everything first: past this point nothing can fail, so the batch is atomic.
    let growthBytes = 0;
    for (const row of puts) {
      checkKeyRow(row);
      const old = d.keys.get(row.key);
      growthBytes += keyRowBytes(row) - (old ? keyRowBytes(old) : 0);
    }
    for (const key of deletes) checkKey(key);
    for (const e of appends) {
      checkAppend(e);
      growthBytes += logEntryBytes(e);
    }
    for (const [peer, seq] of cursors) checkCursor(peer, seq);
    for (const [name, value] of meta) checkMeta(name, value);
    const dedup = batch.dedup ?? [];
    for (const r of dedup) {
      checkDedupRow(r);
      growthBytes += dedupRowBytes(r);
    }
    if (this.#failCommits > 0) {
      this.#failCommits--;
      throw storageErrors.create("RS_ERR_STORE_DISK_WRITE", "an I/O error (injected)");
    }
    if (growthBytes > 0 && d.bytes + growthBytes > d.capacityBytes) {
      throw storageErrors.create("RS_ERR_STORE_DISK_WRITE", "database or disk is full (simulated)", {
        detail: { sizeBytes: d.bytes, capacityBytes: d.capacityBytes },
      });
    }

    for (const row of puts) this.#put(d, copyKeyRow(row));
    for (const key of deletes) this.#delete(d, key);
    const seqs: number[] = [];
    for (const e of appends) {
      const seq = ++d.lastSeq;
      d.log.push(copyEntry({ ...e, seq }));
      d.bytes += logEntryBytes(e);
      seqs.push(seq);
    }
    for (const [peer, seq] of cursors) d.cursors.set(peer, seq);
    for (const [name, value] of meta) d.meta.set(name, value);
    for (const r of dedup) {
      const id = dedupId(r.key, r.opId);
      if (d.dedup.has(id)) continue;
      d.dedup.set(id, { ...r });
      d.bytes += dedupRowBytes(r);
    }
    return seqs;
  }

  #put(d: Disk, row: KeyRow): void {
    const old = d.keys.get(row.key);
    if (old) {
      d.bytes -= keyRowBytes(old);
      if (old.partition !== row.partition) this.#unindex(d, old.partition, row.key);
    }
    if (!old || old.partition !== row.partition) {
      let sorted = d.partitions.get(row.partition);
      if (!sorted) d.partitions.set(row.partition, (sorted = []));
      sorted.splice(searchKeys(sorted, row.key, true), 0, row.key);
    }
    d.keys.set(row.key, row);
    d.bytes += keyRowBytes(row);
    if (row.expiresAtMs > 0) d.expiring.add(row.key);
    else d.expiring.delete(row.key);
  }

  #delete(d: Disk, key: string): void {
    const old = d.keys.get(key);
    if (!old) return;
    d.keys.delete(key);
    d.expiring.delete(key);
    d.bytes -= keyRowBytes(old);
    this.#unindex(d, old.partition, key);
  }

  #unindex(d: Disk, partition: number, key: string): void {
    const sorted = d.partitions.get(partition);
    assert(sorted, "an indexed key's partition exists");
    const i = searchKeys(sorted, key, true);
    assert(sorted[i] === key, "an indexed key is in its partition's list");
    sorted.splice(i, 1);
    if (sorted.length === 0) d.partitions.delete(partition);
  }

  getKey(key: string): KeyRow | undefined {
    const row = this.#open().keys.get(key);
    return row ? copyKeyRow(row) : undefined;
  }

  scanPartition(partition: number, afterKey: string | undefined, limit: number): KeyRow[] {
    const d = this.#open();
    checkLimit(limit);
    const sorted = d.partitions.get(partition) ?? [];
    const from = afterKey === undefined ? 0 : searchKeys(sorted, afterKey, false);
    return sorted.slice(from, from + limit).map((k) => copyKeyRow(d.keys.get(k)!));
  }

  scanDigests(partition: number, afterKey: string | undefined, limit: number): KeyDigest[] {
    const d = this.#open();
    checkLimit(limit);
    const sorted = d.partitions.get(partition) ?? [];
    const from = afterKey === undefined ? 0 : searchKeys(sorted, afterKey, false);
    return sorted.slice(from, from + limit).map((k) => ({ key: k, digest: d.keys.get(k)!.digest }));
  }

  forEachDigest(fn: (key: string, partition: number, digest: number) => void): void {
    for (const row of [...this.#open().keys.values()]) fn(row.key, row.partition, row.digest);
  }

  expired(nowMs: number, limit: number): KeyRow[] {
    const d = this.#open();
    checkLimit(limit);
    const due: KeyRow[] = [];
    for (const key of d.expiring) {
      const row = d.keys.get(key)!;
      if (row.expiresAtMs <= nowMs) due.push(row);
    }
    due.sort((a, b) => a.expiresAtMs - b.expiresAtMs || compareKeys(a.key, b.key));
    return due.slice(0, limit).map(copyKeyRow);
  }

  readLog(afterSeq: number, limit: number): LogEntry[] {
    const d = this.#open();
    checkLimit(limit);
    const from = searchLog(d.log, afterSeq);
    return d.log.slice(from, from + limit).map(copyEntry);
  }

  lastSeq(): number {
    return this.#open().lastSeq;
  }

  truncateLog(uptoSeq: number): void {
    const d = this.#open();
    assert(Number.isSafeInteger(uptoSeq), "truncateLog takes an integer seq");
    const n = searchLog(d.log, uptoSeq);
    for (let i = 0; i < n; i++) d.bytes -= logEntryBytes(d.log[i]);
    d.log.splice(0, n);
  }

  logLength(): number {
    return this.#open().log.length;
  }

  cursors(): Map<string, number> {
    const d = this.#open();
    return new Map([...d.cursors].sort((a, b) => compareKeys(a[0], b[0])));
  }

  meta(name: string): string | undefined {
    return this.#open().meta.get(name);
  }

  sizeBytes(): number {
    return this.#open().bytes;
  }

  maintain(): void {
    this.#open();
  }

  close(): void {
    this.#closed = true;
  }

  #open(): Disk {
    assert(!this.#closed, "the storage is used after close()");
    assert(
      this.#generation === this.#disk.generation,
      "the storage is used after it was reopened (a crashed engine ran on)",
    );
    return this.#disk;
  }
}
