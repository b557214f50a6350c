// One supervisor per site and data directory: a pid file created exclusively. A file whose
// pid is dead (or is no longer a supervisor: pids are reused) is stale and taken over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { supervisorErrors } from "./errors.ts";
import { pidAlive, procStartTicks } from "./processes.ts";

export function supervisorPidFile(dir: string): string {
  return join(dir, "supervisor.pid");
}

type PidRecord = { pid: number; startTicks?: number };

/** The living supervisor that holds the pid file, or undefined. */
export function lockHolder(file: string): PidRecord | undefined {
  let rec: PidRecord;
  try {
    rec = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
  if (!Number.isInteger(rec?.pid) || !pidAlive(rec.pid)) return undefined;
  if (rec.startTicks !== undefined && procStartTicks(rec.pid) !== rec.startTicks) return undefined;
  return rec;
}

/** Takes the pid file for this process; throws naming the pid that holds it. Returns the release. */
export function takeSupervisorLock(file: string): () => void {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, JSON.stringify({ pid: process.pid, startTicks: procStartTicks(process.pid) }));
      closeSync(fd);
      return () => {
        if (lockHolder(file)?.pid === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = lockHolder(file);
      if (holder) throw supervisorErrors.create("RS_ERR_CATTLE_SUPERVISOR_RUNNING", `pid ${holder.pid} holds ${file}`);
      rmSync(file, { force: true });
    }
  }
  throw supervisorErrors.create("RS_ERR_CATTLE_SUPERVISOR_RUNNING", file);
}
