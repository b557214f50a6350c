// What `status` shows of the planet's network beside the supervisors' tables: the site
// weights every DNS server holds (read from its admin endpoint, which answers reads without
// a token) and every emulated WAN link with its delay. A server or link process that does
// not answer is reported as such, never hides the others.
import { request } from "undici";
import { dnsAdminOf } from "../../topology/index.ts";
import { dnsConstants } from "../../traffic/index.ts";
import type { LinkStatus } from "../../wan/index.ts";
import type { PlanetControl } from "./operations.ts";
import { wanLinks } from "./wan-operations.ts";

/** One DNS server's view of the site weights (100 for a site without an entry). */
export type DnsWeightsAnswer =
  | { readonly server: string; readonly reachable: true; readonly weights: Readonly<Record<string, number>> }
  | { readonly server: string; readonly reachable: false; readonly error: string };

export type WanAnswer =
  | { readonly emulated: false }
  | { readonly emulated: true; readonly reachable: true; readonly links: readonly LinkStatus[] }
  | { readonly emulated: true; readonly reachable: false; readonly code: string; readonly error: string };

const readTimeoutMsDefault = 2_000;

/** Every DNS server's weights, asked in parallel. */
export function dnsWeights(ctl: PlanetControl): Promise<DnsWeightsAnswer[]> {
  const timeoutMs = ctl.timeoutMs ?? readTimeoutMsDefault;
  return Promise.all(
    ctl.planet.dnsServers.map(async (d): Promise<DnsWeightsAnswer> => {
      try {
        const admin = dnsAdminOf(ctl.planet, d);
        const res = await request(`http://${admin.host}:${admin.port}/_redshirt/dns/weights`, {
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        });
        const body = (await res.body.json()) as { entries?: Record<string, { weight?: number }> };
        if (res.statusCode !== 200) return { server: d.id, reachable: false, error: `HTTP ${res.statusCode}` };
        const weights: Record<string, number> = {};
        for (const s of ctl.planet.sites)
          weights[s.name] = body.entries?.[s.name]?.weight ?? dnsConstants.weightDefault;
        return { server: d.id, reachable: true, weights };
      } catch (err) {
        return { server: d.id, reachable: false, error: (err as Error).message };
      }
    }),
  );
}

/** Every emulated WAN link with its delay, or why the link processes did not answer. */
export async function wanStatus(ctl: PlanetControl): Promise<WanAnswer> {
  if (ctl.planet.wan.mode === "direct") return { emulated: false };
  try {
    return { emulated: true, reachable: true, links: await wanLinks(ctl) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { emulated: true, reachable: false, code: e.code ?? "unknown", error: e.message ?? String(err) };
  }
}
