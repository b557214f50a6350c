// etcd (Debian's etcd-server) beside our store in `npm run bench:geo`: one member per site,
// its peer traffic across the SAME emulated links (the sites' `redshirt wan` processes) as
// our store's.
//
// The catch: etcd names a member by one peer URL list every member shares, while our links
// are dialer-side proxies — each site reaches a given member at a different address (a proxy
// in its own block; see src/topology/dial.ts). So every member listens on, and advertises,
// its own planet address, and the kernel steers each member's outgoing peer connections into
// its own site's link: each member runs under a uid of its own, and an nftables table
// (`ip redshirt_bench_geo`, nat output hook) rewrites "uid of site X connecting to site Y's
// member" to X's link proxy for that address, which forwards it to Y's member with the delay
// of the X–Y distance. No namespaces, and the members see one cluster.
//
// A member takes the slot of its site's gateway 1 in the planet's address plan (the bench runs
// no gateways), so the links already carry its peer port (the gateway port); clients reach it
// on the client port at the same address, from the same site, over no link.
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Pool } from "undici";
import { type Launched, launch } from "../../src/core/index.ts";
import { dialAddress, type Planet } from "../../src/topology/index.ts";

export const etcdTable = "redshirt_bench_geo";
/** Each member's uid (and gid): the nftables rules tell the members apart by it. */
export const etcdUidBase = 64_220;
const clientPort = 2379;

export type EtcdMember = {
  readonly site: string;
  readonly uid: number;
  readonly host: string;
  readonly peerUrl: string;
  readonly clientUrl: string;
};

/** Why etcd cannot run beside us here, or undefined when it can. */
export function etcdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "etcd beside us needs root (per-member uids and nftables rules)";
  for (const [cmd, pkg] of [
    ["etcd", "etcd-server"],
    ["nft", "nftables"],
    ["setpriv", "util-linux"],
  ]) {
    const r = spawnSync(cmd, ["--version"], { encoding: "utf8", timeout: 10_000 });
    if (r.error) return `\`${cmd}\` is missing (Debian: apt-get install ${pkg}; scripts/setup.sh does)`;
  }
  return undefined;
}

export function etcdMembers(planet: Planet): EtcdMember[] {
  return planet.sites.map((s, i) => {
    const g = planet.gateways.find((x) => x.site === s.name && x.index === 1);
    if (!g) throw new Error(`site ${s.name} has no gateway slot for its etcd member`);
    return {
      site: s.name,
      uid: etcdUidBase + i,
      host: g.host,
      peerUrl: `http://${g.host}:${g.port}`,
      clientUrl: `http://${g.host}:${clientPort}`,
    };
  });
}

function nft(script: string): void {
  const r = spawnSync("nft", ["-f", "-"], { input: script, encoding: "utf8", timeout: 10_000 });
  if (r.status !== 0) throw new Error(`nft: ${r.stderr.trim()}\n${script}`);
}

export function removeSteering(): void {
  spawnSync("nft", ["delete", "table", "ip", etcdTable], { timeout: 10_000 });
}

/** The nftables rules: member X's uid dialing member Y's peer address goes to X's link proxy for it. */
export function steeringRules(planet: Planet, members: readonly EtcdMember[]): string {
  const port = planet.ports.gateway;
  const rules: string[] = [];
  for (const from of members) {
    for (const to of members) {
      if (to.site === from.site) continue;
      const via = dialAddress(planet, from.site, { host: to.host, port, site: to.site });
      rules.push(
        `    meta skuid ${from.uid} ip daddr ${to.host} tcp dport ${port} dnat to ${via.host}:${via.port} comment "${from.site}->${to.site}"`,
      );
    }
  }
  return `table ip ${etcdTable} {
  chain output {
    type nat hook output priority -100; policy accept;
${rules.join("\n")}
  }
}
`;
}

export function installSteering(planet: Planet, members: readonly EtcdMember[]): void {
  removeSteering();
  nft(steeringRules(planet, members));
}

/**
 * etcd's timing for a WAN (its tuning guide): the heartbeat about the largest RTT between
 * members, the election timeout 10 × that.
 */
export function etcdTiming(maxRttMs: number): { heartbeatMs: number; electionMs: number } {
  const heartbeatMs = Math.ceil(maxRttMs / 10) * 10;
  return { heartbeatMs, electionMs: 10 * heartbeatMs };
}

export async function startEtcd(
  dir: string,
  members: readonly EtcdMember[],
  timing: { heartbeatMs: number; electionMs: number },
): Promise<Map<string, Launched>> {
  const cluster = members.map((m) => `${m.site}=${m.peerUrl}`).join(",");
  // The members run under their own uids: they may pass through the bench's directory, not read it.
  chmodSync(dir, 0o711);
  const launched = new Map<string, Launched>();
  const started = await Promise.allSettled(
    members.map(async (m) => {
      const dataDir = join(dir, `etcd-${m.site}`);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      chownSync(dataDir, m.uid, m.uid);
      const p = await launch({
        name: `etcd ${m.site}`,
        command: "setpriv",
        args: [
          ...[`--reuid=${m.uid}`, `--regid=${m.uid}`, "--clear-groups", "etcd"],
          ...["--name", m.site, "--data-dir", dataDir],
          ...["--listen-peer-urls", m.peerUrl, "--initial-advertise-peer-urls", m.peerUrl],
          ...["--listen-client-urls", m.clientUrl, "--advertise-client-urls", m.clientUrl],
          ...["--initial-cluster", cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "benchgeo"],
          ...["--heartbeat-interval", String(timing.heartbeatMs), "--election-timeout", String(timing.electionMs)],
          ...["--logger", "zap", "--log-outputs", "stdout", "--log-level", "info"],
        ],
        isReady: (line) => line.includes("serving client traffic"),
        readyTimeoutMs: 60_000,
      });
      launched.set(m.site, p);
    }),
  );
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    for (const p of launched.values()) p.kill("SIGKILL");
    throw (failed as PromiseRejectedResult).reason;
  }
  return launched;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** etcd's JSON gateway (v3): puts from one site to its own member. */
export class EtcdSiteClient {
  readonly #pool: Pool;
  readonly #site: string;
  #seq = 0;

  constructor(member: EtcdMember, connections: number) {
    this.#pool = new Pool(member.clientUrl, { connections, pipelining: 1 });
    this.#site = member.site;
  }

  async #post<T>(path: string, body: unknown, timeoutMs: number): Promise<T> {
    const res = await this.#pool.request({
      method: "POST",
      path,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200)
      throw new Error(`etcd ${this.#site} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as T;
  }

  async put(tag: string, value: string, timeoutMs: number): Promise<void> {
    const key = `geo/${tag}/${this.#site}/${this.#seq++}`;
    await this.#post("/v3/kv/put", { key: b64(key), value: b64(value) }, timeoutMs);
  }

  /** This member's id and the leader's, as etcd prints them (uint64 in decimal). */
  async status(): Promise<{ memberId: string; leader: string }> {
    const s = await this.#post<{ header: { member_id: string }; leader: string }>("/v3/maintenance/status", {}, 5_000);
    return { memberId: s.header.member_id, leader: s.leader };
  }

  /** Asks this member (the leader) to hand leadership to another. */
  async transferLeadership(targetId: string): Promise<void> {
    await this.#post("/v3/maintenance/transfer-leadership", { targetID: targetId }, 10_000);
  }

  close(): Promise<void> {
    return this.#pool.destroy();
  }
}

/** The site whose member leads now. */
export async function etcdLeaderSite(clients: ReadonlyMap<string, EtcdSiteClient>): Promise<string> {
  const statuses = await Promise.all([...clients.entries()].map(async ([s, c]) => ({ s, st: await c.status() })));
  return statuses.find((x) => x.st.memberId === x.st.leader)?.s ?? "(none)";
}

/** Moves the leadership to `site`'s member (so killing that site costs etcd an election), bounded. */
export async function moveLeader(clients: ReadonlyMap<string, EtcdSiteClient>, site: string): Promise<void> {
  const target = await clients.get(site)!.status();
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    const statuses = await Promise.all([...clients.entries()].map(async ([s, c]) => ({ s, st: await c.status() })));
    const leader = statuses.find((x) => x.st.memberId === x.st.leader);
    if (leader?.s === site) return;
    try {
      if (leader) await clients.get(leader.s)!.transferLeadership(target.memberId);
    } catch (err) {
      lastError = err; // a transfer during an election fails; the next attempt asks the new leader
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`etcd: the leadership did not move to ${site} (last error: ${String(lastError)})`);
}
