// The node's durable state in one SQLite file (node:sqlite), tuned from the prototype's
// measurements: WAL with synchronous=NORMAL (a commit reaches the OS before it returns, so it
// survives SIGKILL of the process; FULL cost 36-49 %), a large page cache and mmap, every
// statement prepared once (-35 % without), one transaction per batch (group commit), and
// no automatic checkpoints: a checkpoint on the event loop set p99 at 29-34 ms. Checkpoints
// happen only when the engine calls maintain(), at a moment it chooses; by default they run
// right there (PASSIVE, and TRUNCATE once the WAL is past a bound). What takes the time is
// their two fsyncs (6-10 ms even for a small WAL, vs 0.2 ms of copying). With
// `checkpoints: "worker"` they run in a worker thread on a second connection instead
// (sqlite-checkpointer.ts), which frees the loop from those waits on a host with a core to
// spare, but on a saturated 2-core host measured slower, with the worker preempting the loop
// (see bench/storage.ts).
//
// Only one process may use a data file: two nodes pointed at one data directory would corrupt
// replication. The storage holds an exclusive SQLite lock on a sidecar file (`<path>-lock`)
// for as long as it is open, so a second opener, in this process or another, is refused at
// once. The lock dies with the process.
import { statSync } from "node:fs";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { Worker } from "node:worker_threads";
import { AssertionFailed, assert, isRedshirtError, type Logger } from "../../core/index.ts";
import { commitsPerMaintainMax, sqliteBusyTimeoutMs, walBytesTruncateMin } from "../constants.ts";
import { storageErrors } from "../storage-errors.ts";
import type { CheckpointerData, CheckpointerReply } from "./sqlite-checkpointer.ts";
import { configure, migrate, type SqliteStorageOptions, sqliteBusy, takeLock } from "./sqlite-file.ts";

export type { SqliteStorageOptions } from "./sqlite-file.ts";

import type { CommitBatch, DedupCursor, DedupRow, KeyDigest, KeyRow, LogEntry, Storage } from "./storage.ts";
import {
  checkAppend,
  checkCursor,
  checkDedupRow,
  checkKey,
  checkKeyRow,
  checkLimit,
  checkMeta,
} from "./storage-rows.ts";

const keyColumns = "key, partition, state, digest, expires_at AS expiresAtMs";

/** Opens (creating if needed) the data file at `path`. Throws RS_ERR_STORE_DISK_OPEN or RS_ERR_STORE_DISK_SCHEMA. */
export function openSqliteStorage(path: string, options: SqliteStorageOptions = {}): Storage {
  const inMemory = path === ":memory:" || path === "";
  const checkpoints = inMemory ? "inline" : (options.checkpoints ?? "inline");
  const lock = inMemory ? undefined : takeLock(path);
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    lock?.close();
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", `${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    configure(db, options, checkpoints === "inline");
    migrate(db, path);
    return new SqliteStorage(db, path, options, inMemory ? undefined : checkpoints, lock);
  } catch (err) {
    db.close();
    lock?.close();
    if (isRedshirtError(err)) throw err;
    const busy = (err as { errcode?: number }).errcode === sqliteBusy;
    const text = busy ? `${path} is held by another running node` : `${path}: ${(err as Error).message}`;
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", text, { cause: err });
  }
}

type Row = Record<string, unknown>;

function toKeyRow(r: Row): KeyRow {
  return {
    key: r.key as string,
    partition: r.partition as number,
    state: r.state as Uint8Array,
    digest: r.digest as number,
    expiresAtMs: r.expiresAtMs as number,
  };
}

class SqliteStorage implements Storage {
  readonly #db: DatabaseSync;
  readonly #walPath: string | undefined;
  readonly #walBytesTruncateMin: number;
  readonly #s: Record<
    | "begin"
    | "commit"
    | "rollback"
    | "upsertKey"
    | "deleteKey"
    | "append"
    | "setCursor"
    | "setMeta"
    | "getKey"
    | "scanFirst"
    | "scanAfter"
    | "digestsFirst"
    | "digestsAfter"
    | "digests"
    | "expired"
    | "readLog"
    | "saveLastSeq"
    | "truncate"
    | "cursors"
    | "meta"
    | "pageCount"
    | "pageSize"
    | "checkpointPassive"
    | "checkpointTruncate"
    | "insertDedup"
    | "getDedup"
    | "expireDedup"
    | "scanDedupFirst"
    | "scanDedupAfter",
    StatementSync
  >;
  #lastSeq: number;
  #logLength: number;
  #dedupCount = 0;
  #commitsSinceMaintain = 0;
  #closed = false;
  readonly #lock: DatabaseSync | undefined;
  readonly #logger: Logger | undefined;
  #worker: Worker | undefined;
  #checkpointing = false;
  #checkpointAgain = false;

  constructor(
    db: DatabaseSync,
    path: string,
    options: SqliteStorageOptions,
    checkpoints: "worker" | "inline" | undefined,
    lock: DatabaseSync | undefined,
  ) {
    this.#db = db;
    this.#lock = lock;
    this.#logger = options.logger;
    this.#walPath = checkpoints === undefined ? undefined : `${path}-wal`;
    this.#walBytesTruncateMin = options.walBytesTruncateMin ?? walBytesTruncateMin;
    if (checkpoints === "worker") this.#startCheckpointer(path);
    const p = (sql: string): StatementSync => db.prepare(sql);
    this.#s = {
      begin: p("BEGIN IMMEDIATE"),
      commit: p("COMMIT"),
      rollback: p("ROLLBACK"),
      upsertKey: p(
        `INSERT INTO keys (key, partition, state, digest, expires_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET state = excluded.state, digest = excluded.digest,
           expires_at = excluded.expires_at`,
      ),
      deleteKey: p("DELETE FROM keys WHERE key = ?"),
      append: p("INSERT INTO log (seq, partition, key, lh, targets, payload) VALUES (?, ?, ?, ?, ?, ?)"),
      setCursor: p("INSERT INTO cursors (peer, seq) VALUES (?, ?) ON CONFLICT (peer) DO UPDATE SET seq = excluded.seq"),
      setMeta: p(
        "INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
      ),
      getKey: p(`SELECT ${keyColumns} FROM keys WHERE key = ?`),
      scanFirst: p(`SELECT ${keyColumns} FROM keys WHERE partition = ? ORDER BY key LIMIT ?`),
      scanAfter: p(`SELECT ${keyColumns} FROM keys WHERE partition = ? AND key > ? ORDER BY key LIMIT ?`),
      digests: p("SELECT key, partition, digest FROM keys"),
      digestsFirst: p("SELECT key, digest FROM keys WHERE partition = ? ORDER BY key LIMIT ?"),
      digestsAfter: p("SELECT key, digest FROM keys WHERE partition = ? AND key > ? ORDER BY key LIMIT ?"),
      expired: p(
        `SELECT ${keyColumns} FROM keys WHERE expires_at > 0 AND expires_at <= ? ORDER BY expires_at, key LIMIT ?`,
      ),
      readLog: p("SELECT seq, partition, key, lh, targets, payload FROM log WHERE seq > ? ORDER BY seq LIMIT ?"),
      saveLastSeq: p("UPDATE log_state SET last_seq = max(last_seq, ?) WHERE id = 0"),
      truncate: p("DELETE FROM log WHERE seq <= ?"),
      cursors: p("SELECT peer, seq FROM cursors ORDER BY peer"),
      meta: p("SELECT value FROM meta WHERE name = ?"),
      pageCount: p("PRAGMA page_count"),
      pageSize: p("PRAGMA page_size"),
      checkpointPassive: p("PRAGMA wal_checkpoint(PASSIVE)"),
      checkpointTruncate: p("PRAGMA wal_checkpoint(TRUNCATE)"),
      insertDedup: p("INSERT OR IGNORE INTO dedup (op_id, key, partition, h, answer) VALUES (?, ?, ?, ?, ?)"),
      getDedup: p("SELECT op_id AS opId, key, partition, h, answer FROM dedup WHERE op_id = ? AND key = ?"),
      // dedup_by_h holds (h, op_id, key): both scans walk it in order.
      scanDedupFirst: p("SELECT op_id AS opId, key, partition, h, answer FROM dedup ORDER BY h, op_id, key LIMIT ?"),
      scanDedupAfter: p(
        "SELECT op_id AS opId, key, partition, h, answer FROM dedup WHERE (h, op_id, key) > (?, ?, ?) ORDER BY h, op_id, key LIMIT ?",
      ),
      expireDedup: p(
        "DELETE FROM dedup WHERE (op_id, key) IN (SELECT op_id, key FROM dedup WHERE h < ? ORDER BY h LIMIT ?)",
      ),
    };
    this.#dedupCount = Number(db.prepare("SELECT count(*) AS n FROM dedup").get()?.n ?? 0);
    const saved = Number(db.prepare("SELECT last_seq FROM log_state WHERE id = 0").get()?.last_seq ?? 0);
    const newest = Number(db.prepare("SELECT max(seq) AS s FROM log").get()?.s ?? 0);
    this.#lastSeq = Math.max(saved, newest);
    this.#logLength = Number(db.prepare("SELECT count(*) AS n FROM log").get()?.n ?? 0);
  }

  commit(batch: CommitBatch): number[] {
    this.#checkOpen();
    const puts = batch.puts ?? [];
    const deletes = batch.deletes ?? [];
    const appends = batch.appends ?? [];
    const cursors = batch.cursors ?? [];
    const meta = batch.meta ?? [];
    const dedup = batch.dedup ?? [];
    if (puts.length + deletes.length + appends.length + cursors.length + meta.length + dedup.length === 0) return [];
    const s = this.#s;
    const seqs: number[] = [];
    let seq = this.#lastSeq;
    let dedupAdded = 0;
    try {
      s.begin.run();
      // Order inside a batch: puts, then deletes, then appends, cursors, meta.
      for (const row of puts) {
        checkKeyRow(row);
        s.upsertKey.run(row.key, row.partition, row.state, row.digest, row.expiresAtMs);
      }
      for (const key of deletes) {
        checkKey(key);
        s.deleteKey.run(key);
      }
      for (const e of appends) {
        checkAppend(e);
        seq++;
        s.append.run(seq, e.partition, e.key, e.lh, JSON.stringify(e.targets), e.payload);
        seqs.push(seq);
      }
      for (const [peer, cursor] of cursors) {
        checkCursor(peer, cursor);
        s.setCursor.run(peer, cursor);
      }
      for (const [name, value] of meta) {
        checkMeta(name, value);
        s.setMeta.run(name, value);
      }
      for (const d of dedup) {
        checkDedupRow(d);
        dedupAdded += Number(s.insertDedup.run(d.opId, d.key, d.partition, d.h, d.answer).changes);
      }
      s.commit.run();
    } catch (err) {
      this.#rollback(err);
    }
    this.#lastSeq = seq;
    this.#logLength += seqs.length;
    this.#dedupCount += dedupAdded;
    if (++this.#commitsSinceMaintain >= commitsPerMaintainMax) this.maintain();
    return seqs;
  }

  /** Undoes the open transaction and throws: assertions as they are (engine bugs), SQLite errors as RS_ERR_STORE_DISK_WRITE. */
  #rollback(err: unknown): never {
    if (this.#db.isTransaction) this.#s.rollback.run();
    if (err instanceof AssertionFailed) throw err;
    const e = err as Error & { errcode?: number; errstr?: string };
    throw storageErrors.create("RS_ERR_STORE_DISK_WRITE", e.message, {
      cause: err,
      detail: { sqliteCode: e.errcode, sqliteError: e.errstr },
    });
  }

  getKey(key: string): KeyRow | undefined {
    this.#checkOpen();
    const r = this.#s.getKey.get(key);
    return r ? toKeyRow(r) : undefined;
  }

  scanPartition(partition: number, afterKey: string | undefined, limit: number): KeyRow[] {
    this.#checkOpen();
    checkLimit(limit);
    const rows =
      afterKey === undefined
        ? this.#s.scanFirst.all(partition, limit)
        : this.#s.scanAfter.all(partition, afterKey, limit);
    return rows.map(toKeyRow);
  }

  scanDigests(partition: number, afterKey: string | undefined, limit: number): KeyDigest[] {
    this.#checkOpen();
    checkLimit(limit);
    const rows =
      afterKey === undefined
        ? this.#s.digestsFirst.all(partition, limit)
        : this.#s.digestsAfter.all(partition, afterKey, limit);
    return rows.map((r) => ({ key: r.key as string, digest: r.digest as number }));
  }

  forEachDigest(fn: (key: string, partition: number, digest: number) => void): void {
    this.#checkOpen();
    for (const r of this.#s.digests.iterate()) fn(r.key as string, r.partition as number, r.digest as number);
  }

  expired(nowMs: number, limit: number): KeyRow[] {
    this.#checkOpen();
    checkLimit(limit);
    return this.#s.expired.all(nowMs, limit).map(toKeyRow);
  }

  readLog(afterSeq: number, limit: number): LogEntry[] {
    this.#checkOpen();
    checkLimit(limit);
    return this.#s.readLog.all(afterSeq, limit).map((r) => ({
      seq: r.seq as number,
      partition: r.partition as number,
      key: r.key as string,
      lh: r.lh as number,
      targets: JSON.parse(r.targets as string) as string[],
      payload: r.payload as Uint8Array,
    }));
  }

  lastSeq(): number {
    this.#checkOpen();
    return this.#lastSeq;
  }

  truncateLog(uptoSeq: number): void {
    this.#checkOpen();
    assert(Number.isSafeInteger(uptoSeq), "truncateLog takes an integer seq");
    if (uptoSeq <= 0 || this.#logLength === 0) return;
    const s = this.#s;
    let removed = 0;
    try {
      s.begin.run();
      // Remember the newest seq first: the rows that carry it may be the ones deleted.
      s.saveLastSeq.run(this.#lastSeq);
      removed = Number(s.truncate.run(Math.min(uptoSeq, this.#lastSeq)).changes);
      s.commit.run();
    } catch (err) {
      this.#rollback(err);
    }
    this.#commitsSinceMaintain++;
    this.#logLength -= removed;
  }

  logLength(): number {
    this.#checkOpen();
    return this.#logLength;
  }

  cursors(): Map<string, number> {
    this.#checkOpen();
    return new Map(this.#s.cursors.all().map((r) => [r.peer as string, r.seq as number]));
  }

  getDedup(key: string, opId: string): DedupRow | undefined {
    this.#checkOpen();
    const r = this.#s.getDedup.get(opId, key);
    return r ? (r as unknown as DedupRow) : undefined;
  }

  expireDedup(beforeH: number, limit: number): number {
    this.#checkOpen();
    checkLimit(limit);
    if (this.#dedupCount === 0) return 0;
    let removed = 0;
    try {
      this.#s.begin.run();
      removed = Number(this.#s.expireDedup.run(beforeH, limit).changes);
      this.#s.commit.run();
    } catch (err) {
      this.#rollback(err);
    }
    this.#commitsSinceMaintain++;
    this.#dedupCount -= removed;
    return removed;
  }

  dedupCount(): number {
    this.#checkOpen();
    return this.#dedupCount;
  }

  scanDedup(after: DedupCursor | undefined, limit: number): DedupRow[] {
    this.#checkOpen();
    checkLimit(limit);
    const rows = after
      ? this.#s.scanDedupAfter.all(after[0], after[1], after[2], limit)
      : this.#s.scanDedupFirst.all(limit);
    return rows as unknown as DedupRow[];
  }

  meta(name: string): string | undefined {
    this.#checkOpen();
    return this.#s.meta.get(name)?.value as string | undefined;
  }

  sizeBytes(): number {
    this.#checkOpen();
    const pages = Number(this.#s.pageCount.get()?.page_count ?? 0);
    const pageSize = Number(this.#s.pageSize.get()?.page_size ?? 0);
    return pages * pageSize + this.#walBytes();
  }

  maintain(): void {
    this.#checkOpen();
    if (this.#commitsSinceMaintain === 0 || this.#walPath === undefined) return;
    this.#commitsSinceMaintain = 0;
    if (this.#worker) {
      if (this.#walBytes() > this.#walBytesTruncateMin) {
        // Under steady writes the worker's checkpoints never catch the last frame, so the
        // WAL never restarts and keeps growing. Past the bound, once the worker is idle, one
        // TRUNCATE here copies the little it has not and restarts the WAL (one fsync's stall).
        this.#checkpointAgain = false;
        if (!this.#checkpointing) this.#s.checkpointTruncate.get();
        else this.#commitsSinceMaintain = 1;
        return;
      }
      // One checkpoint at a time; calls meanwhile fold into one more after it.
      if (this.#checkpointing) this.#checkpointAgain = true;
      else {
        this.#checkpointing = true;
        this.#worker.postMessage("checkpoint");
      }
      return;
    }
    // Inline, a call that finds new commits stalls for two fsyncs (6-10 ms here, more under
    // load) plus about 1 ms per MB of WAL written since the last call (~12 kB per one-write
    // commit): call it every few hundred ms while writes flow. A call with nothing committed
    // since the last one costs nothing. In worker mode a call costs ~0.1 ms, so call it often.
    // PASSIVE copies the WAL into the database without waiting for anyone; once it is all
    // copied, the next commit restarts the WAL from its start (and SQLite trims the file to
    // journal_size_limit), so the WAL stays about as large as what is written between calls.
    this.#s.checkpointPassive.get();
    if (this.#walBytes() > this.#walBytesTruncateMin) this.#s.checkpointTruncate.get();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // The worker closes its own connection; it may finish a checkpoint first, which is safe.
    this.#worker?.postMessage("close");
    this.#worker = undefined;
    this.#db.close();
    this.#lock?.close();
  }

  #startCheckpointer(path: string): void {
    const workerData: CheckpointerData = { path, busyTimeoutMs: sqliteBusyTimeoutMs };
    const worker = new Worker(new URL("./sqlite-checkpointer.ts", import.meta.url), { workerData });
    // The worker never keeps the process alive; it dies with it, which SQLite survives.
    worker.unref();
    worker.on("message", (reply: CheckpointerReply) => {
      if (!reply.ok)
        this.#logger?.warn("WAL checkpoint failed; retried at the next maintain()", { error: reply.error });
      this.#checkpointing = false;
      if (this.#checkpointAgain && this.#worker === worker) {
        this.#checkpointAgain = false;
        this.#checkpointing = true;
        worker.postMessage("checkpoint");
      }
    });
    worker.on("error", (err) => {
      // Without its worker the storage checkpoints inline rather than let the WAL grow.
      this.#logger?.error("WAL checkpoint worker failed; checkpointing on the event loop from now on", { err });
      if (this.#worker === worker) this.#worker = undefined;
      this.#checkpointing = false;
    });
    this.#worker = worker;
  }

  #walBytes(): number {
    if (this.#walPath === undefined) return 0;
    try {
      return statSync(this.#walPath).size;
    } catch {
      return 0;
    }
  }

  #checkOpen(): void {
    assert(!this.#closed, "the storage is used after close()");
  }
}
