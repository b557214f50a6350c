// Looking at OS processes from tests: which children a process has, and whether a pid is
// still alive — to check that what a command started is gone after it stops.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The direct children of a process. */
export function childPids(pid: number): number[] {
  const out = spawnSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).stdout;
  return out
    .split("\n")
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
}

/** Every descendant of a process (children, their children, …). */
export function descendantPids(pid: number): number[] {
  return childPids(pid).flatMap((k) => [k, ...descendantPids(k)]);
}

/** Whether a pid runs. A zombie does not: it is dead and waits to be reaped (orphans wait for PID 1, which may take seconds). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
