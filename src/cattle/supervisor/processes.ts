// The OS side of supervising: starting an instance detached (its own process group and
// session, output appended to a log file) so it outlives the supervisor; telling whether a
// pid is still the process we started (Linux /proc: its start time and its environment
// carry the identity); finding the processes a dead supervisor left behind; signalling a
// whole process group.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import type { Clock } from "../../core/index.ts";
import { logBytesMax, procScanMax } from "./constants.ts";

export type ExitInfo = { readonly code: number | null; readonly signal: string | null; readonly known: boolean };

export function describeExit(e: ExitInfo): string {
  if (!e.known) return "gone (not our child: exit status unknown)";
  return e.signal ? `killed by ${e.signal}` : `exited with ${e.code}`;
}

export type SpawnRequest = {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly logFile: string;
  /** One line written to the log before the process starts (what is starting, and when). */
  readonly header: string;
};

export type Spawned = {
  readonly pid: number;
  /** The kernel's start time of the process (clock ticks since boot), part of its identity. */
  readonly startTicks: number | undefined;
  readonly exited: Promise<ExitInfo>;
};

/** Keeps one older generation of a log that grew past logBytesMax. */
function rotateLog(file: string): void {
  try {
    if (statSync(file).size > logBytesMax) renameSync(file, `${file}.1`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

/**
 * Starts a process in its own session and process group, with no pipe to us: it keeps
 * running when we die, and a Ctrl-C in our terminal does not reach it. Throws when the
 * command cannot be started at all.
 */
export function spawnDetached(req: SpawnRequest): Spawned {
  mkdirSync(dirname(req.logFile), { recursive: true });
  rotateLog(req.logFile);
  const fd = openSync(req.logFile, "a");
  try {
    writeSync(fd, `${req.header}\n`);
    const child = spawn(req.command, req.args, {
      env: req.env,
      cwd: req.cwd,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once("exit", (code, signal) => resolve({ code, signal, known: true }));
      child.once("error", () => resolve({ code: -1, signal: null, known: true }));
    });
    child.unref();
    if (child.pid === undefined) return { pid: -1, startTicks: undefined, exited };
    return { pid: child.pid, startTicks: procStartTicks(child.pid), exited };
  } finally {
    closeSync(fd);
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses). */
export function procStartTicks(pid: number): number | undefined {
  const stat = procStat(pid);
  if (!stat) return undefined;
  const ticks = Number(stat.rest[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

function procStat(pid: number): { state: string; rest: string[] } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0], rest: fields };
  } catch {
    return undefined;
  }
}

/** Whether a pid names a running process (a zombie is dead: it only waits for its parent). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = procStat(pid);
  if (stat) return stat.state !== "Z" && stat.state !== "X";
  // No /proc (not Linux): kill(0) is all we know.
  return !existsSync("/proc/self/stat");
}

/** The environment a process was started with, or undefined when it cannot be read. */
export function readEnviron(pid: number): Map<string, string> | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(`/proc/${pid}/environ`);
  } catch {
    return undefined;
  }
  const env = new Map<string, string>();
  for (const entry of raw.toString("utf8").split("\0")) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/**
 * Whether pid is still the process we recorded: alive, started at the recorded kernel time
 * (when we have it), and carrying our owner tag and the instance id in its environment.
 */
export function isSameProcess(
  pid: number,
  expect: { ownerTag: string; id: string; startTicks?: number | undefined },
  names: { owner: string; instanceId: string },
): boolean {
  if (!pidAlive(pid)) return false;
  if (expect.startTicks !== undefined && procStartTicks(pid) !== expect.startTicks) return false;
  const env = readEnviron(pid);
  return env?.get(names.owner) === expect.ownerTag && env.get(names.instanceId) === expect.id;
}

export type OwnedProcess = {
  readonly pid: number;
  readonly startTicks: number | undefined;
  readonly env: Map<string, string>;
};

/** Every live process whose environment carries ownerName=ownerTag (what a dead supervisor left behind). */
export function scanOwned(ownerName: string, ownerTag: string): OwnedProcess[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  const out: OwnedProcess[] = [];
  let looked = 0;
  for (const name of entries) {
    if (!/^\d+$/.test(name) || ++looked > procScanMax) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const env = readEnviron(pid);
    if (env?.get(ownerName) !== ownerTag || !pidAlive(pid)) continue;
    out.push({ pid, startTicks: procStartTicks(pid), env });
  }
  return out;
}

/** Signals the process group an instance leads (it and any children it started); false when it is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Resolves when a process that is not our child is gone (or is no longer the process we
 * adopted), polling every pollMs on the given clock. cancel() stops the polling.
 */
export function watchPid(
  clock: Clock,
  pollMs: number,
  stillOurs: () => boolean,
): { exited: Promise<ExitInfo>; cancel(): void } {
  let cancelled = false;
  let timer: { cancel(): void } | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    const look = (): void => {
      if (cancelled) return;
      if (stillOurs()) timer = clock.setTimer(pollMs, look);
      else resolve({ code: null, signal: null, known: false });
    };
    look();
  });
  return {
    exited,
    cancel: () => {
      cancelled = true;
      timer?.cancel();
    },
  };
}

/** The last bytes of a log file (whole lines), for a status row after a failed start. */
export function logTail(file: string, bytes: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    const text = buf.toString("utf8");
    return length < size ? text.slice(text.indexOf("\n") + 1) : text;
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
