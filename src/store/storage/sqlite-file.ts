// A data file's opening: its options, its schema and the migration from older versions, the
// PRAGMAs that tune it (sqlite-storage.ts says why each), and the sidecar lock that keeps a
// second process off it.
import { DatabaseSync } from "node:sqlite";
import { assert, type Logger } from "../../core/index.ts";
import {
  sqliteApplicationId,
  sqliteBusyTimeoutMs,
  sqliteCacheKiB,
  sqliteMmapBytes,
  sqlitePageBytes,
  storageSchemaVersion,
  walBytesKeep,
} from "../constants.ts";
import { storageErrors } from "../storage-errors.ts";

export type SqliteStorageOptions = {
  /** Page cache in KiB (default sqliteCacheKiB). */
  readonly cacheKiB?: number;
  /** Memory-mapped window in bytes (default sqliteMmapBytes; 0 turns mmap off). */
  readonly mmapBytes?: number;
  /** maintain() truncates the WAL file once it is larger than this (default walBytesTruncateMin). */
  readonly walBytesTruncateMin?: number;
  /** "normal" (default) survives a killed process; "full" also survives power loss, at a large cost. */
  readonly synchronous?: "normal" | "full";
  /** Where maintain()'s checkpoints run: "inline" (default, inside maintain()) or "worker" (a worker thread). */
  readonly checkpoints?: "worker" | "inline";
  /** Told about checkpoints that failed in the worker (they are retried at the next maintain()). */
  readonly logger?: Logger;
};

// Version 1 of the schema. Tables are STRICT so a value of the wrong type is an error, not a
// silent conversion. keys is clustered by key (WITHOUT ROWID): an upsert writes one b-tree
// instead of two, which measured 6x faster than a rowid table once keys outgrow the cache.
// The log's seq is assigned by this code (not by SQLite) so that the highest seq ever assigned can be kept in log_state when truncation removes the newest rows.
export const schemaV1 = `
CREATE TABLE keys (
  key TEXT PRIMARY KEY,
  partition INTEGER NOT NULL,
  state BLOB NOT NULL,
  digest INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX keys_by_partition ON keys (partition, key);
CREATE INDEX keys_by_expiry ON keys (expires_at, key) WHERE expires_at > 0;
CREATE TABLE log (
  seq INTEGER PRIMARY KEY,
  partition INTEGER NOT NULL,
  key TEXT NOT NULL,
  lh INTEGER NOT NULL,
  targets TEXT NOT NULL,
  payload BLOB NOT NULL
) STRICT;
CREATE TABLE log_state (id INTEGER PRIMARY KEY CHECK (id = 0), last_seq INTEGER NOT NULL) STRICT;
INSERT INTO log_state (id, last_seq) VALUES (0, 0);
CREATE TABLE cursors (peer TEXT PRIMARY KEY, seq INTEGER NOT NULL) STRICT, WITHOUT ROWID;
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;
`;

// Version 2 adds the dedup table (storage.ts says what it holds); a version 1 file is upgraded in place.
export const schemaV2 = `
CREATE TABLE dedup (
  op_id TEXT NOT NULL,
  key TEXT NOT NULL,
  partition INTEGER NOT NULL,
  h INTEGER NOT NULL,
  answer TEXT NOT NULL,
  PRIMARY KEY (op_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX dedup_by_h ON dedup (h);
`;

export const sqliteBusy = 5;

/** Holds an exclusive lock on `<path>-lock` until closed; refuses at once when someone else holds it. */
export function takeLock(path: string): DatabaseSync {
  const lockPath = `${path}-lock`;
  let lock: DatabaseSync;
  try {
    lock = new DatabaseSync(lockPath);
  } catch (err) {
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", `${lockPath}: ${(err as Error).message}`, { cause: err });
  }
  try {
    lock.exec("PRAGMA busy_timeout = 0");
    lock.exec("PRAGMA locking_mode = EXCLUSIVE");
    // In EXCLUSIVE locking mode the lock a write transaction takes is kept until close.
    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("COMMIT");
    return lock;
  } catch (err) {
    lock.close();
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", `${path} is held by another running node (${lockPath})`, {
      cause: err,
    });
  }
}

export function configure(db: DatabaseSync, options: SqliteStorageOptions, exclusive: boolean): void {
  const cacheKiB = options.cacheKiB ?? sqliteCacheKiB;
  const mmapBytes = options.mmapBytes ?? sqliteMmapBytes;
  assert(Number.isSafeInteger(cacheKiB) && cacheKiB > 0, "cacheKiB is a positive integer");
  assert(Number.isSafeInteger(mmapBytes) && mmapBytes >= 0, "mmapBytes is a non-negative integer");
  db.exec(`PRAGMA busy_timeout = ${sqliteBusyTimeoutMs}`);
  // EXCLUSIVE must come before the first WAL access: the WAL index then lives in heap memory
  // (no -shm file) and the lock taken on first access is held until close.
  if (exclusive) db.exec("PRAGMA locking_mode = EXCLUSIVE");
  // Only a new file takes it (before its first table and the WAL); an older file keeps its
  // own. Every commit writes each page it dirtied to the WAL whole and every checkpoint
  // copies them back and fsyncs: with 1 KiB pages a commit of a few random rows writes a
  // quarter of the bytes 4 KiB pages did, and the checkpoint that stalls the loop once a
  // second took 35-50 ms instead of 90-110 (bench:store's write mix, this host).
  db.exec(`PRAGMA page_size = ${sqlitePageBytes}`);
  const mode = db.prepare("PRAGMA journal_mode = WAL").get()?.journal_mode;
  // An in-memory database (":memory:", used by some tests) cannot use a WAL.
  assert(mode === "wal" || mode === "memory", `journal_mode is WAL (got ${String(mode)})`);
  db.exec(`PRAGMA synchronous = ${options.synchronous === "full" ? "FULL" : "NORMAL"}`);
  db.exec(`PRAGMA cache_size = -${cacheKiB}`);
  db.exec(`PRAGMA mmap_size = ${mmapBytes}`);
  db.exec("PRAGMA wal_autocheckpoint = 0");
  db.exec(`PRAGMA journal_size_limit = ${walBytesKeep}`);
  db.exec("PRAGMA temp_store = MEMORY");
}

export function migrate(db: DatabaseSync, path: string): void {
  const appId = Number(db.prepare("PRAGMA application_id").get()?.application_id ?? 0);
  const version = Number(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);
  if (appId !== 0 && appId !== sqliteApplicationId) {
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", `${path} is another application's SQLite file (id ${appId})`);
  }
  if (version > storageSchemaVersion) {
    throw storageErrors.create(
      "RS_ERR_STORE_DISK_SCHEMA",
      `${path} has schema version ${version}; this redshirt knows up to ${storageSchemaVersion}`,
      { detail: { path, version, known: storageSchemaVersion } },
    );
  }
  if (version === storageSchemaVersion) return;
  const tables = Number(db.prepare("SELECT count(*) AS n FROM sqlite_schema").get()?.n ?? 0);
  if (tables > 0 && version === 0) {
    throw storageErrors.create("RS_ERR_STORE_DISK_OPEN", `${path} holds tables but is not a redshirt data file`);
  }
  db.exec("BEGIN IMMEDIATE");
  try {
    if (version < 1) db.exec(schemaV1);
    if (version < 2) db.exec(schemaV2);
    db.exec(`PRAGMA application_id = ${sqliteApplicationId}`);
    db.exec(`PRAGMA user_version = ${storageSchemaVersion}`);
    db.exec("COMMIT");
  } catch (err) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw err;
  }
}
