// Linux network namespaces for tests that run each site on its own "host": one namespace per
// site with its own /16 (every address of it local, as 127/8 is on loopback, so the site's
// processes bind their planet addresses), a router namespace that joins them through one
// veth pair each (no bridge: sites reach each other only through routing), and a client
// namespace behind the router too. Names carry the test process's pid, so a stale set left
// by a killed run is found and removed, and a concurrent run's set is left alone.
import { execFile, spawnSync } from "node:child_process";

export type SiteNet = {
  /** The namespace's name. */
  readonly ns: string;
  /** The site's /16, local inside its namespace. */
  readonly subnet: string;
  /** The site's end of its veth (10.77.<i>.2). */
  readonly linkAddress: string;
};

export type NetnsLab = {
  readonly router: string;
  /** The router's end of each site's veth, by site index. */
  readonly routerEnds: readonly string[];
  readonly client: string;
  readonly clientAddress: string;
  readonly sites: readonly SiteNet[];
  /** Every namespace of the lab, router last. */
  readonly all: readonly string[];
};

function ip(args: readonly string[]): void {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`);
}

/** Why namespaces cannot be made here, or undefined when they can (root, `ip`, netns support). */
export function netnsUnavailable(prefix: string): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "network namespaces need root (run the suite as root)";
  const probe = `${prefix}-${process.pid}-probe`;
  const r = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8", timeout: 10_000 });
  if (r.error) return `\`ip\` (iproute2) is not usable: ${r.error.message}`;
  if (r.status !== 0) return `\`ip netns add\` failed: ${r.stderr.trim()}`;
  spawnSync("ip", ["netns", "del", probe], { timeout: 10_000 });
  return undefined;
}

/** The namespaces whose names start with `prefix-`. */
function listNamespaces(prefix: string): string[] {
  const r = spawnSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 10_000 });
  return r.stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n.startsWith(`${prefix}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The pids of the processes inside a namespace. */
export function namespacePids(ns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 10_000 });
  return r.stdout
    .split("\n")
    .map(Number)
    .filter((p) => Number.isInteger(p) && p > 0);
}

/** SIGKILLs every process in the namespace until none is left (bounded); returns how many were killed. */
export async function killNamespace(ns: string): Promise<number> {
  const killed = new Set<number>();
  for (let round = 0; round < 50; round++) {
    const pids = namespacePids(ns);
    if (pids.length === 0) return killed.size;
    for (const pid of pids) {
      killed.add(pid);
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${ns}: processes left after SIGKILL: ${namespacePids(ns).join(" ")}`);
}

/** Kills every process of the namespaces and deletes them (deleting a namespace removes its veths). */
export async function removeNamespaces(names: readonly string[]): Promise<void> {
  for (const ns of names) await killNamespace(ns).catch(() => undefined);
  for (const ns of names) spawnSync("ip", ["netns", "del", ns], { timeout: 10_000 });
}

/** Removes the namespaces an earlier run of this test left behind (its pid is dead). */
export async function removeStale(prefix: string): Promise<string[]> {
  const stale = listNamespaces(prefix).filter((n) => {
    const pid = Number(n.slice(prefix.length + 1).split("-")[0]);
    return !(Number.isInteger(pid) && pid > 0) || pid === process.pid || !alive(pid);
  });
  await removeNamespaces(stale);
  return stale;
}

/**
 * Builds the lab: site i gets namespace `<prefix>-<pid>-s<i>` holding `subnets[i]` (a /16)
 * and the link 10.77.<i>.0/24 to the router; the client namespace sits on 10.77.200.0/24.
 */
export function buildLab(prefix: string, subnets: readonly string[]): NetnsLab {
  const tag = `${prefix}-${process.pid}`;
  const router = `${tag}-r`;
  const client = `${tag}-c`;
  const vethTag = `${(process.pid % 100000).toString(36)}`;
  const sites: SiteNet[] = subnets.map((subnet, i) => ({
    ns: `${tag}-s${i}`,
    subnet,
    linkAddress: `10.77.${i}.2`,
  }));
  const all = [...sites.map((s) => s.ns), client, router];
  for (const ns of all) ip(["netns", "add", ns]);
  for (const ns of all) ip(["-n", ns, "link", "set", "lo", "up"]);
  const join = (ns: string, name: string, linkNet: number, local?: string) => {
    // Interface names are at most 15 bytes: `n<pid36><name>a|b`.
    const inner = `n${vethTag}${name}a`;
    const outer = `n${vethTag}${name}b`;
    ip(["link", "add", inner, "netns", ns, "type", "veth", "peer", "name", outer, "netns", router]);
    ip(["-n", ns, "addr", "add", `10.77.${linkNet}.2/24`, "dev", inner]);
    ip(["-n", ns, "link", "set", inner, "up"]);
    ip(["-n", router, "addr", "add", `10.77.${linkNet}.1/24`, "dev", outer]);
    ip(["-n", router, "link", "set", outer, "up"]);
    ip(["-n", ns, "route", "add", "default", "via", `10.77.${linkNet}.1`]);
    if (local) {
      // Every address of the site's /16 is local in its namespace, and the router sends the /16 to it.
      ip(["-n", ns, "route", "add", "local", local, "dev", "lo"]);
      ip(["-n", router, "route", "add", local, "via", `10.77.${linkNet}.2`]);
    }
  };
  for (const [i, s] of sites.entries()) join(s.ns, `s${i}`, i, s.subnet);
  join(client, "c", 200);
  ip(["netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  const routerEnds = sites.map((_, i) => `n${vethTag}s${i}b`);
  return { router, routerEnds, client, clientAddress: "10.77.200.2", sites, all };
}

/** Cuts site i off: the router's end of its veth goes down (which also drops the route to its /16). */
export function cutSite(lab: NetnsLab, i: number): void {
  ip(["-n", lab.router, "link", "set", lab.routerEnds[i], "down"]);
}

/** Heals the cut: the veth end up again and the route to the site's /16 back. */
export function healSite(lab: NetnsLab, i: number): void {
  ip(["-n", lab.router, "link", "set", lab.routerEnds[i], "up"]);
  ip(["-n", lab.router, "route", "replace", lab.sites[i].subnet, "via", lab.sites[i].linkAddress]);
}

/** Runs a command inside a namespace; resolves with its status and output (never rejects on exit status). */
export function execIn(
  ns: string,
  command: string,
  args: readonly string[],
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("ip", ["netns", "exec", ns, command, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) || (err ? err.message : "") });
    });
  });
}
