// Micro-benchmark of the store's SQLite storage: commits/s and upserts/s for batches of 1 and
// of 64 (each upsert with its log append, as the write path does) over 100k keys written
// beforehand, maintain() called periodically as the engine would, the log truncated behind;
// with checkpoints inline on the event loop (the default) and in a worker thread. Compare with the prototype's figures in ARCHITECTURE.md
// (18k/s one write per transaction; 31k-59k upserts/s in batches of 64).
//   node bench/storage.ts [seconds-per-case] [maintain-every-ms]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSqliteStorage } from "../src/store/index.ts";

const secondsPerCase = Number(process.argv[2] ?? 3);
const keySpace = 100_000;
// How often the engine would call maintain(): inline checkpoints pay two fsyncs each, so
// rarely; worker ones cost the loop nothing, so often. A third argument overrides both.
const maintainEveryMsFor = { inline: 250, worker: 25 } as const;
const maintainEveryMsArg = process.argv[3] === undefined ? undefined : Number(process.argv[3]);

async function run(batchSize: number, checkpoints: "worker" | "inline"): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rs-bench-storage-"));
  const s = openSqliteStorage(join(dir, "node.sqlite"), { checkpoints });
  const maintainEveryMs = maintainEveryMsArg ?? maintainEveryMsFor[checkpoints];
  try {
    const state = new Uint8Array(120).fill(7);
    const payload = new Uint8Array(80).fill(3);
    for (let k = 0; k < keySpace; k += 1000) {
      const puts = Array.from({ length: 1000 }, (_, j) => ({
        key: `user:${k + j}`,
        partition: (k + j) % 64,
        state,
        digest: 0,
        expiresAtMs: 0,
      }));
      s.commit({ puts });
    }
    s.maintain();
    let i = 0;
    let commits = 0;
    let slowestCommitMs = 0;
    let slowestMaintainMs = 0;
    const maintainMs: number[] = [];
    const started = performance.now();
    let lastMaintain = started;
    const endAt = started + secondsPerCase * 1000;
    for (let now = started; now < endAt; now = performance.now()) {
      const puts = [];
      const appends = [];
      for (let j = 0; j < batchSize; j++, i++) {
        const key = `user:${(i * 7919) % keySpace}`;
        puts.push({ key, partition: ((i * 7919) % keySpace) % 64, state, digest: i >>> 0, expiresAtMs: 0 });
        appends.push({ partition: i % 64, key, lh: i, targets: ["n2", "n3"], payload });
      }
      const t0 = performance.now();
      s.commit({ puts, appends });
      const t1 = performance.now();
      slowestCommitMs = Math.max(slowestCommitMs, t1 - t0);
      commits++;
      if (t1 - lastMaintain >= maintainEveryMs) {
        s.maintain();
        const t2 = performance.now();
        // Let the worker's reply in, as the engine's event loop would between turns.
        if (checkpoints === "worker") await new Promise((resolve) => setImmediate(resolve));
        slowestMaintainMs = Math.max(slowestMaintainMs, t2 - t1);
        maintainMs.push(t2 - t1);
        lastMaintain = t2;
        // The engine truncates what every peer acknowledged; keep the log short the same way.
        s.truncateLog(s.lastSeq() - 10_000);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(
      JSON.stringify({
        batch: batchSize,
        checkpoints,
        maintainEveryMs,
        commitsPerS: Math.round(commits / seconds),
        upsertsPerS: Math.round((commits * batchSize) / seconds),
        slowestCommitMs: Number(slowestCommitMs.toFixed(2)),
        medianMaintainMs: Number((maintainMs.sort((a, b) => a - b)[maintainMs.length >> 1] ?? 0).toFixed(2)),
        slowestMaintainMs: Number(slowestMaintainMs.toFixed(2)),
        sizeMiB: Number((s.sizeBytes() / 1_048_576).toFixed(1)),
      }),
    );
  } finally {
    s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const checkpoints of ["inline", "worker"] as const) {
  for (const batchSize of [1, 64]) await run(batchSize, checkpoints);
}
