// What both storages (SQLite and in-memory) check about rows before they store them, and
// the key order they share. A row that breaks these rules is a bug in the engine, so the
// checks are assertions: commit() throws and applies nothing of the batch.
import { assert } from "../../core/index.ts";
import { storageReadRowsMax } from "../constants.ts";
import type { DedupRow, KeyRow, LogAppend } from "./storage.ts";

const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** A key must be well-formed UTF-16: SQLite stores UTF-8, where lone surrogates would collapse distinct keys. */
export function checkKey(key: unknown): asserts key is string {
  assert(typeof key === "string" && key.isWellFormed(), "a key is a well-formed string");
}

export function checkKeyRow(row: KeyRow): void {
  checkKey(row.key);
  assert(isIndex(row.partition), `key ${row.key}: partition is a non-negative integer`);
  assert(row.state instanceof Uint8Array, `key ${row.key}: state is a Uint8Array`);
  assert(isIndex(row.digest) && row.digest <= 0xffff_ffff, `key ${row.key}: digest is a 32-bit unsigned integer`);
  assert(isIndex(row.expiresAtMs), `key ${row.key}: expiresAtMs is a non-negative integer`);
}

export function checkAppend(entry: LogAppend): void {
  checkKey(entry.key);
  assert(isIndex(entry.partition), "log entry: partition is a non-negative integer");
  assert(isIndex(entry.lh), "log entry: lh is a non-negative integer");
  assert(
    Array.isArray(entry.targets) && entry.targets.every((t) => typeof t === "string"),
    "log entry: targets are strings",
  );
  assert(entry.payload instanceof Uint8Array, "log entry: payload is a Uint8Array");
}

export function checkCursor(peer: unknown, seq: unknown): void {
  assert(typeof peer === "string", "a cursor's peer is a string");
  assert(isIndex(seq), `cursor ${peer}: seq is a non-negative integer`);
}

export function checkMeta(name: unknown, value: unknown): void {
  assert(typeof name === "string" && typeof value === "string", "a meta entry is a string name and a string value");
}

export function checkDedupRow(row: DedupRow): void {
  checkKey(row.key);
  assert(typeof row.opId === "string" && row.opId.isWellFormed(), "a dedup row's op id is a well-formed string");
  assert(isIndex(row.partition), `dedup ${row.opId}: partition is a non-negative integer`);
  assert(isIndex(row.h), `dedup ${row.opId}: h is a non-negative integer`);
  assert(typeof row.answer === "string", `dedup ${row.opId}: answer is a string`);
}

export function checkLimit(limit: number): void {
  assert(
    Number.isSafeInteger(limit) && limit >= 0 && limit <= storageReadRowsMax,
    `limit is in 0..${storageReadRowsMax}`,
  );
}

/**
 * Orders keys as SQLite's BINARY collation does (by their UTF-8 bytes, i.e. by code point),
 * which differs from JavaScript's `<` (UTF-16 code units) for characters above U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let ca = a.charCodeAt(i);
    let cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Surrogates (0xD800-0xDFFF) start code points above 0xFFFF, so they sort after
    // 0xE000-0xFFFF: shift both ranges so code-unit order matches code-point order.
    if (ca >= 0xd800) ca += ca >= 0xe000 ? -0x800 : 0x2000;
    if (cb >= 0xd800) cb += cb >= 0xe000 ? -0x800 : 0x2000;
    return ca - cb;
  }
  return a.length - b.length;
}
