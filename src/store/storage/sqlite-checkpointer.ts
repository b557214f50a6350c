// Worker thread of the SQLite storage: runs WAL checkpoints on its own connection, so their
// fsyncs (6-10 ms each on the test machines even for a small WAL, vs 0.2 ms of copying)
// never stall the node's event loop. The storage posts "checkpoint" when maintain() is
// called and "close" when it closes; the worker answers each checkpoint with what it did.
// Its checkpoints are PASSIVE only: they never wait for the writer, nor make it wait.
import { DatabaseSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";

export type CheckpointerData = { path: string; busyTimeoutMs: number };
export type CheckpointerReply = { ok: true; frames: number; ms: number } | { ok: false; error: string };

const { path, busyTimeoutMs } = workerData as CheckpointerData;
const port = parentPort;
if (port) {
  const db = new DatabaseSync(path);
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  db.exec("PRAGMA cache_size = -2048");
  const passive = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  port.on("message", (message: unknown) => {
    if (message === "close") {
      db.close();
      port.close();
      return;
    }
    const startedMs = performance.now();
    let reply: CheckpointerReply;
    try {
      const frames = Number(passive.get()?.checkpointed ?? 0);
      reply = { ok: true, frames, ms: performance.now() - startedMs };
    } catch (err) {
      reply = { ok: false, error: (err as Error).message };
    }
    port.postMessage(reply);
  });
}
