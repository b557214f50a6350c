// Bytes a set of processes sent over TCP to an address prefix, read from the kernel
// (`ss -tinp`): for every established socket owned by one of the pids whose peer starts with
// the prefix, the bytes the peer acknowledged. Store nodes send to a peer only on the
// connection they dialed, so with the prefix of a site's subnet this is what those
// processes sent that site. Sockets closed in between are not counted: measure over
// connections that stay up.
import { execFileSync } from "node:child_process";

export function tcpBytesSentBy(pids: ReadonlySet<number>, toPrefix: string): number {
  const out = execFileSync("ss", ["-tinpH", "state", "established"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  const lines = out.split("\n");
  let total = 0;
  for (let i = 0; i < lines.length; i++) {
    // Head: Recv-Q Send-Q Local:Port Peer:Port users:(("node",pid=N,fd=M)); the next line holds the counters.
    const head = lines[i].trim().split(/\s+/);
    if (head.length < 5 || !head[3].startsWith(toPrefix)) continue;
    const pid = /pid=(\d+)/.exec(head[4]);
    if (!pid || !pids.has(Number(pid[1]))) continue;
    const acked = / bytes_acked:(\d+)/.exec(lines[i + 1] ?? "");
    if (acked) total += Number(acked[1]);
  }
  return total;
}
