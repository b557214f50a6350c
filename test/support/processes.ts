// Looking at OS processes from tests: which children a process has, and whether a pid is
// still alive — to check that what a command started is gone after it stops.
import { spawnSync } from "node:child_process";

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

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
