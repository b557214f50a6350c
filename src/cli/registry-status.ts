// `redshirt status` for a site no supervisor of ours runs (Kubernetes, systemd): what the
// site says about itself. App instances and gateways hold leases in the site's registry
// (docs/discovery.md); two reads a few heartbeats apart tell the live (their beat moved)
// from leftovers. Store nodes and DNS servers hold no lease: their planet addresses are
// asked for /healthz.
import { type Lease, parseLease, registryConstants, registryKey } from "../cattle/index.ts";
import { createStoreClient } from "../store/index.ts";
import { dnsAdminOf, type Planet } from "../topology/index.ts";

export type RegistryRow = {
  readonly id: string;
  readonly tier: string;
  readonly state: string;
  readonly address: string;
  readonly version: string;
  readonly pid: number | null;
};

export type RegistrySiteView = {
  readonly site: string;
  readonly tiers: readonly { tier: string; ready: number; desired: number }[];
  readonly instances: readonly RegistryRow[];
  /** Why the registry could not be read, when it could not (the rows are then the health checks only). */
  readonly registryError: string | undefined;
};

/** Two reads this far apart see every live lease beat at least twice. */
const beatWaitMs = registryConstants.heartbeatMsDefault * 2 + 100;
const askTimeoutMs = 1_000;

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(askTimeoutMs) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function readLeases(store: ReturnType<typeof createStoreClient>, site: string): Promise<Map<string, Lease>> {
  const r = await store.get(registryKey(site), { consistency: "local-one", timeoutMs: askTimeoutMs });
  const out = new Map<string, Lease>();
  if (!r.exists || r.type !== "map") return out;
  for (const [field, value] of Object.entries((r.value ?? {}) as Record<string, unknown>)) {
    const parsed = parseLease(value);
    if (parsed.ok && parsed.lease.id === field && parsed.lease.site === site) out.set(field, parsed.lease);
  }
  return out;
}

export async function registrySiteView(planet: Planet, site: string): Promise<RegistrySiteView> {
  const s = planet.sites.find((x) => x.name === site);
  if (!s) throw new Error(`no site ${site}`);
  const store = createStoreClient({ planet, site, timeoutMs: askTimeoutMs });
  const rows: RegistryRow[] = [];
  let registryError: string | undefined;
  try {
    const probes = Promise.all([
      ...planet.storeNodes
        .filter((n) => n.site === site)
        .map(async (n) => ({ n, ok: await healthy(`http://${n.host}:${n.port}/healthz`), tier: "store" })),
      ...planet.dnsServers
        .filter((n) => n.site === site)
        .map(async (n) => {
          // The DNS server's health is on its management address (.7.k), never the public one.
          const admin = dnsAdminOf(planet, n);
          return { n, ok: await healthy(`http://${admin.host}:${admin.port}/healthz`), tier: "dns" };
        }),
    ]);
    let live: Lease[] = [];
    try {
      const first = await readLeases(store, site);
      await new Promise((done) => setTimeout(done, beatWaitMs));
      const second = await readLeases(store, site);
      live = [...second.values()].filter((l) => {
        const before = first.get(l.id);
        return !before || before.beat !== l.beat || before.startedAtMs !== l.startedAtMs;
      });
    } catch (err) {
      registryError = `${(err as { code?: string }).code ?? "error"}: ${(err as Error).message}`;
    }
    for (const p of await probes) {
      rows.push({
        id: p.n.id,
        tier: p.tier,
        state: p.ok ? "ready" : "down",
        address: `${p.n.host}:${p.n.port}`,
        version: "-",
        pid: null,
      });
    }
    for (const l of live.sort((a, b) => a.tier.localeCompare(b.tier) || a.id.localeCompare(b.id))) {
      rows.push({
        id: l.id,
        tier: l.tier,
        state: l.state,
        address: `${l.host}:${l.port}`,
        version: l.version,
        pid: l.pid ?? null,
      });
    }
  } finally {
    await store.close();
  }
  const tiers = (["store", "app", "gateway", "dns"] as const).map((tier) => ({
    tier,
    ready: rows.filter((r) => r.tier === tier && r.state === "ready").length,
    desired: s.tiers[tier],
  }));
  return { site, tiers, instances: rows, registryError };
}

export function registryViewText(v: RegistrySiteView, supervisorError: string): string[] {
  const ready = v.tiers.every((t) => t.ready >= t.desired);
  const lines = [
    `${v.site.padEnd(6)} ${ready ? "ready" : "NOT READY"}  ${v.tiers.map((t) => `${t.tier} ${t.ready}/${t.desired}`).join("  ")}   no supervisor answers (${supervisorError}): instances from the registry's leases and health checks`,
  ];
  if (v.registryError) lines.push(`  registry NOT READABLE: ${v.registryError}`);
  lines.push(
    `  ${"id".padEnd(24)} ${"tier".padEnd(8)} ${"state".padEnd(9)} ${"address".padEnd(22)} ${"version".padEnd(8)} pid`,
  );
  for (const r of v.instances) {
    lines.push(
      `  ${r.id.padEnd(24)} ${r.tier.padEnd(8)} ${r.state.padEnd(9)} ${r.address.padEnd(22)} ${r.version.padEnd(8)} ${r.pid ?? "-"}`,
    );
  }
  return lines;
}
