import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { isRedshirtError, launch, nodeBin } from "../../core/index.ts";
import { storageCompliance } from "../testkit/storage-compliance.ts";
import { openSqliteStorage } from "./sqlite-storage.ts";
import type { Storage } from "./storage.ts";

const tempDir = (): string => mkdtempSync(join(tmpdir(), "rs-sqlite-"));

/**
 * The checkpoint worker closes its own connection just after close() returns, so its
 * files can still appear in the directory for a moment: removal retries.
 */
function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
}

for (const checkpoints of ["worker", "inline"] as const) {
  storageCompliance(`sqlite storage (${checkpoints} checkpoints)`, () => {
    const dir = tempDir();
    const path = join(dir, "node.sqlite");
    return {
      create: () => openSqliteStorage(path, { checkpoints }),
      reopen: (s: Storage) => {
        s.close();
        return openSqliteStorage(path, { checkpoints });
      },
      cleanup: () => removeDir(dir),
    };
  });
}

async function waitFor(cond: () => boolean, budgetMs: number): Promise<boolean> {
  const endMs = performance.now() + budgetMs;
  while (!cond()) {
    if (performance.now() > endMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

test("sqlite storage - a file with a newer schema version is refused with a clear error", () => {
  const dir = tempDir();
  try {
    const path = join(dir, "node.sqlite");
    openSqliteStorage(path).close();
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 7");
    db.close();
    assert.throws(
      () => openSqliteStorage(path),
      (err) => isRedshirtError(err, "RS_ERR_STORE_DISK_SCHEMA") && /schema version 7/.test(err.message),
    );
  } finally {
    removeDir(dir);
  }
});

test("sqlite storage - another application's file and a file held by a running node are refused", () => {
  const dir = tempDir();
  try {
    const foreign = join(dir, "foreign.sqlite");
    const db = new DatabaseSync(foreign);
    db.exec("CREATE TABLE t (x)");
    db.close();
    assert.throws(
      () => openSqliteStorage(foreign),
      (err) => isRedshirtError(err, "RS_ERR_STORE_DISK_OPEN"),
    );
    for (const checkpoints of ["worker", "inline"] as const) {
      const path = join(dir, `${checkpoints}.sqlite`);
      const first = openSqliteStorage(path, { checkpoints });
      try {
        for (const other of ["worker", "inline"] as const) {
          assert.throws(
            () => openSqliteStorage(path, { checkpoints: other }),
            (err) => isRedshirtError(err, "RS_ERR_STORE_DISK_OPEN") && /held by another running node/.test(err.message),
            `${checkpoints} then ${other}`,
          );
        }
      } finally {
        first.close();
      }
      openSqliteStorage(path, { checkpoints }).close();
    }
    assert.throws(
      () => openSqliteStorage(join(dir, "no-such-dir", "x.sqlite")),
      (err) => isRedshirtError(err, "RS_ERR_STORE_DISK_OPEN"),
    );
  } finally {
    removeDir(dir);
  }
});

for (const checkpoints of ["worker", "inline"] as const) {
  test(`sqlite storage - nothing checkpoints until maintain(), which trims a WAL grown past its bound (${checkpoints})`, async () => {
    const dir = tempDir();
    const path = join(dir, "node.sqlite");
    try {
      const s = openSqliteStorage(path, { walBytesTruncateMin: 256 * 1024, checkpoints });
      const big = new Uint8Array(4_000).fill(1);
      for (let i = 0; i < 200; i++) {
        s.commit({ puts: [{ key: `k${i}`, partition: 0, state: big, digest: 0, expiresAtMs: 0 }] });
      }
      const walBefore = statSync(`${path}-wal`).size;
      assert.ok(walBefore > 800_000, `the WAL holds every commit (${walBefore} bytes)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(statSync(`${path}-wal`).size, walBefore, "no checkpoint on its own");
      s.maintain();
      assert.ok(await waitFor(() => statSync(`${path}-wal`).size < 256 * 1024, 5_000), "maintain() truncated the WAL");
      // Writes go on while (and after) the checkpoint runs.
      s.commit({ puts: [{ key: "after", partition: 0, state: big, digest: 0, expiresAtMs: 0 }] });
      assert.equal(s.getKey("k199")?.state.length, 4_000);
      assert.equal(s.getKey("after")?.state.length, 4_000);
      s.close();
    } finally {
      removeDir(dir);
    }
  });
}

test("sqlite storage - a new file has 1 KiB pages; a file made with 4 KiB pages keeps them and its rows", () => {
  const dir = tempDir();
  try {
    const fresh = join(dir, "fresh.sqlite");
    openSqliteStorage(fresh).close();
    const pageOf = (path: string) => {
      const db = new DatabaseSync(path);
      const size = Number(db.prepare("PRAGMA page_size").get()?.page_size);
      db.close();
      return size;
    };
    assert.equal(pageOf(fresh), 1024);
    // A file as an older redshirt made it: 4 KiB pages, a row in it.
    const old = join(dir, "old.sqlite");
    const raw = new DatabaseSync(old);
    raw.exec("PRAGMA page_size = 4096");
    raw.exec("PRAGMA journal_mode = WAL");
    raw.close();
    const s = openSqliteStorage(old);
    s.commit({ puts: [{ key: "k", partition: 1, state: new Uint8Array([1, 2, 3]), digest: 7, expiresAtMs: 0 }] });
    s.close();
    const again = openSqliteStorage(old);
    assert.deepEqual([...(again.getKey("k")?.state ?? [])], [1, 2, 3]);
    again.close();
    assert.equal(pageOf(old), 4096);
  } finally {
    removeDir(dir);
  }
});

test("sqlite storage - the expiry and partition queries use their indexes", () => {
  const dir = tempDir();
  const path = join(dir, "node.sqlite");
  try {
    openSqliteStorage(path).close();
    const db = new DatabaseSync(path);
    const plan = (sql: string): string =>
      db
        .prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((r) => r.detail)
        .join("; ");
    assert.match(
      plan("SELECT * FROM keys WHERE expires_at > 0 AND expires_at <= 5 ORDER BY expires_at, key LIMIT 5"),
      /USING INDEX keys_by_expiry/,
    );
    assert.match(
      plan("SELECT * FROM keys WHERE partition = 1 AND key > 'a' ORDER BY key LIMIT 5"),
      /USING INDEX keys_by_partition/,
    );
    db.close();
  } finally {
    removeDir(dir);
  }
});

// A real process commits batches in a loop and reports each one after commit() returned,
// checkpointing now and then; it is SIGKILLed mid-loop, with commits in the WAL. Every
// batch it reported must be there after reopening, and the next batch is all there or not.
const committer = `
import { writeSync } from "node:fs";
import { openSqliteStorage } from ${JSON.stringify(new URL("./sqlite-storage.ts", import.meta.url).pathname)};

// stdout is a non-blocking pipe: when a loaded parent reads it late, a write fails with EAGAIN
// (a line is under PIPE_BUF, so it is written whole or not at all): wait a millisecond, again.
const pause = new Int32Array(new SharedArrayBuffer(4));
function report(line) {
  for (;;) {
    try {
      writeSync(1, line);
      return;
    } catch (err) {
      if (err.code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}
const s = openSqliteStorage(process.argv[1], { checkpoints: process.argv[2] });
report(JSON.stringify({ event: "ready" }) + "\\n");
for (let i = 1; i <= 200_000; i++) {
  const puts = Array.from({ length: 8 }, (_, j) => ({ key: "b" + i + "-" + j, partition: j, state: new Uint8Array([i % 256, j]), digest: i, expiresAtMs: 0 }));
  const appends = Array.from({ length: 3 }, (_, j) => ({ partition: j, key: "b" + i + "-" + j, lh: i, targets: ["n2"], payload: new Uint8Array([j, i % 256]) }));
  const seqs = s.commit({ puts, appends, meta: [["last", String(i)]] });
  report(JSON.stringify({ batch: i, seqs }) + "\\n");
  if (i % 20 === 0) {
    s.maintain();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
`;

for (const checkpoints of ["inline", "worker"] as const) {
  test(`sqlite storage - every batch reported committed survives SIGKILL of the process mid-loop (${checkpoints} checkpoints)`, async () => {
    const dir = tempDir();
    const path = join(dir, "node.sqlite");
    const reported: { batch: number; seqs: number[] }[] = [];
    let enough: () => void = () => {};
    const gotEnough = new Promise<void>((resolve) => {
      enough = resolve;
    });
    const child = await launch({
      name: "committer",
      command: nodeBin,
      args: ["--input-type=module", "-e", committer, path, checkpoints],
      onLine: (line, stream) => {
        if (stream !== "stdout" || !line.startsWith('{"batch"')) return;
        reported.push(JSON.parse(line));
        if (reported.length === 300) enough();
      },
    });
    try {
      await Promise.race([gotEnough, child.exited]);
      child.kill("SIGKILL");
      const { signal } = await child.exited;
      assert.equal(signal, "SIGKILL", `the committer was killed mid-loop; output:\n${child.tail()}`);
      assert.ok(statSync(`${path}-wal`).size > 0, "the kill left a WAL to recover");
    } finally {
      await child.stop();
    }
    const s = openSqliteStorage(path);
    try {
      assert.ok(reported.length >= 300);
      for (const { batch, seqs } of reported) {
        for (let j = 0; j < 8; j++) assert.deepEqual([...(s.getKey(`b${batch}-${j}`)?.state ?? [])], [batch % 256, j]);
        const log = s.readLog(seqs[0] - 1, 3);
        assert.deepEqual(
          log.map((e) => [e.seq, e.key, e.lh]),
          seqs.map((seq, j) => [seq, `b${batch}-${j}`, batch]),
        );
      }
      const last = Number(s.meta("last"));
      const lastReported = reported[reported.length - 1];
      assert.ok(last >= lastReported.batch);
      // The batch after the last one on disk is absent as a whole (atomicity across the kill).
      for (let j = 0; j < 8; j++) assert.equal(s.getKey(`b${last + 1}-${j}`), undefined);
      for (let j = 0; j < 8; j++) assert.ok(s.getKey(`b${last}-${j}`));
      assert.equal(s.lastSeq(), last * 3);
      assert.deepEqual(
        s.commit({ appends: [{ partition: 0, key: "after", lh: 1, targets: [], payload: new Uint8Array() }] }),
        [last * 3 + 1],
      );
    } finally {
      s.close();
      removeDir(dir);
    }
  });
}
