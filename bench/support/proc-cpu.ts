// CPU time of processes from /proc/<pid>/stat (user + system, children not included), so a
// benchmark can say what one acknowledged operation costs across every process it took.
import { readFileSync } from "node:fs";

const ticksPerS = 100; // USER_HZ on Linux

/** CPU seconds used so far by each pid (a pid that is gone counts 0). */
export function cpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    total += (Number(fields[11]) + Number(fields[12])) / ticksPerS;
  }
  return total;
}
