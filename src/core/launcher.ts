// One launcher for real processes, used by tests, benchmarks and `redshirt up`: it starts
// a process, waits a bounded time for its readiness line raced against an early exit, and
// stop() always ends it (SIGTERM, then SIGKILL after a grace period). Every server process
// of redshirt prints one JSON line `{"event":"ready", ...}` on stdout once it serves.
import { type ChildProcess, spawn } from "node:child_process";

import { createInterface } from "node:readline";

export const readyTimeoutMsDefault = 20_000;
export const stopGraceMsDefault = 3_000;

export type LaunchOptions = {
  /** A label for messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly readyTimeoutMs?: number;
  /** Decides readiness from a stdout line; default: a JSON line with event "ready". */
  readonly isReady?: (line: string) => unknown;
  /** Receives every output line (stdout and stderr), e.g. to show progress or keep logs. */
  readonly onLine?: (line: string, stream: "stdout" | "stderr") => void;
};

export type Launched = {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** What the readiness line carried (the parsed JSON by default). */
  readonly ready: unknown;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of output, for failure messages. */
  tail(): string;
  kill(signal?: NodeJS.Signals): void;
  stop(graceMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

function defaultIsReady(line: string): unknown {
  if (!line.startsWith("{")) return undefined;
  try {
    const v = JSON.parse(line);
    return v?.event === "ready" ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The pinned Node binary running this process, so children use the same one. */
export const nodeBin = process.execPath;

export async function launch(options: LaunchOptions): Promise<Launched> {
  const child = spawn(options.command, options.args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tailLines: string[] = [];
  const keep = (line: string, stream: "stdout" | "stderr"): void => {
    tailLines.push(line);
    if (tailLines.length > 40) tailLines.shift();
    options.onLine?.(line, stream);
  };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    child.once("error", () => resolve({ code: -1, signal: null }));
  });
  const isReady = options.isReady ?? defaultIsReady;
  let readyValue: unknown;
  const readyPromise = new Promise<unknown>((resolve) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      keep(line, "stdout");
      if (readyValue === undefined) {
        const r = isReady(line);
        if (r) {
          readyValue = r;
          resolve(r);
        }
      }
    });
  });
  createInterface({ input: child.stderr! }).on("line", (line) => keep(line, "stderr"));

  const stop = async (graceMs = stopGraceMsDefault): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const launched: Launched = {
    name: options.name,
    child,
    pid: child.pid ?? -1,
    get ready() {
      return readyValue;
    },
    exited,
    tail: () => tailLines.join("\n"),
    kill: (signal = "SIGKILL") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    stop,
    [Symbol.asyncDispose]: () => stop(),
  };

  const timeoutMs = options.readyTimeoutMs ?? readyTimeoutMsDefault;
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    readyPromise.then(() => "ready" as const),
    exited.then(() => "exited" as const),
    new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome !== "ready") {
    await stop(500);
    const why =
      outcome === "exited" ? `exited with ${child.exitCode ?? child.signalCode}` : `not ready after ${timeoutMs} ms`;
    throw new Error(`${options.name} ${why}; last output:\n${launched.tail()}`);
  }
  return launched;
}

/** Stops every process given, in parallel, ignoring ones already gone. */
export async function stopAll(processes: Iterable<Launched | undefined>, graceMs?: number): Promise<void> {
  await Promise.all([...processes].map((p) => p?.stop(graceMs)));
}
