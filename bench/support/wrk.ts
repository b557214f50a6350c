// wrk, as every HTTP bench drives it: pinned to a core when `taskset` exists and the machine
// has more than one, and its text report parsed into numbers (latencies in ms, socket
// errors and non-2xx answers added up as errors).
import { spawnSync } from "node:child_process";
import { cpus } from "node:os";

export type WrkResult = { rps: number; p50Ms: number; p99Ms: number; errors: number; requests: number };

export const pinning = spawnSync("taskset", ["--version"]).status === 0 && cpus().length > 1;

/** The command line that runs `command` on `core` (or unpinned where pinning is not possible). */
export function pinned(core: string, command: string, args: string[]): [string, string[]] {
  return pinning ? ["taskset", ["-c", core, command, ...args]] : [command, args];
}

/** wrk's latency text (e.g. `812.00us`, `1.20ms`, `2.01s`) in milliseconds. */
export function wrkMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "ms" ? v : m[2] === "s" ? v * 1000 : v * 60_000;
}

export function runWrk(options: {
  readonly url: string;
  readonly seconds: number;
  readonly connections: number;
  readonly threads?: number;
  /** The core wrk is pinned to. */
  readonly core: string;
}): WrkResult {
  const { url, seconds, connections, threads = 1, core } = options;
  const [cmd, args] = pinned(core, "wrk", [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "--latency", url]);
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: (seconds + 30) * 1000 });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const out = r.stdout;
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50Ms: wrkMs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? ""),
    p99Ms: wrkMs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? ""),
    errors: (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx,
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? 0),
  };
}
