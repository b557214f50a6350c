// Runs the real `dig` (Debian's bind9-dnsutils) and parses what it prints, for the DNS
// integration tests.
import { execFile } from "node:child_process";

export type DigRecord = { name: string; ttl: number; type: string; data: string };
export type DigResult = {
  status: string;
  flags: string[];
  answers: DigRecord[];
  authority: DigRecord[];
  additional: DigRecord[];
  /** The CLIENT-SUBNET line of the response, e.g. "10.3.0.0/16/16". */
  clientSubnet: string | undefined;
  udpPayloadSize: number | undefined;
  /** "UDP" or "TCP", from the SERVER line. */
  transport: string | undefined;
  text: string;
};

function section(text: string, name: string): DigRecord[] {
  const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(text);
  if (!m) return [];
  return m[1]
    .split("\n")
    .filter((l) => l && !l.startsWith(";"))
    .map((l) => {
      const [name, ttl, , type, ...data] = l.split(/\s+/);
      return { name, ttl: Number(ttl), type, data: data.join(" ") };
    });
}

/** `netns`: run dig inside that network namespace (`ip netns exec`). */
export function dig(
  server: string,
  port: number,
  args: readonly string[],
  timeoutMs = 5000,
  netns?: string,
): Promise<DigResult> {
  const digArgs = [`@${server}`, "-p", String(port), "+time=1", "+tries=1", ...args];
  return new Promise((resolve, reject) => {
    execFile(
      netns ? "ip" : "dig",
      netns ? ["netns", "exec", netns, "dig", ...digArgs] : digArgs,
      { timeout: timeoutMs },
      (err, stdout) => {
        if (err && !stdout) return reject(err);
        const text = String(stdout);
        resolve({
          status: /status: (\w+)/.exec(text)?.[1] ?? "NONE",
          flags: (/;; flags: ([^;]*);/.exec(text)?.[1] ?? "").trim().split(/\s+/).filter(Boolean),
          answers: section(text, "ANSWER"),
          authority: section(text, "AUTHORITY"),
          additional: section(text, "ADDITIONAL"),
          clientSubnet: /CLIENT-SUBNET: (\S+)/.exec(text)?.[1],
          udpPayloadSize: Number(/udp: (\d+)/.exec(text)?.[1]) || undefined,
          transport: /SERVER: \S+ \((\w+)\)/.exec(text)?.[1],
          text,
        });
      },
    );
  });
}
