// Where every user is served, not only the dashboard's own: each gateway counts the requests
// it accepts by the client region of their source address (rs_gateway_requests_by_region_total;
// the WAN's access links dial on from the user's own address). Scraped every gatewayPollMs,
// the difference between a gateway's last two scrapes is its req/s per region; a gateway
// that does not answer (killed, its site down) serves nobody and is left out at once. These
// rates are merged with the virtual users' arcs (mergeArcs): the users' ops name the site
// that served them, the gateways' counts the site whose gateway took the request — the same
// site unless that site has no app instance left and forwards.

import type { Planet } from "../topology/index.ts";
import { gatewayConstants } from "../traffic/index.ts";
import { arcWindowMs, gatewayRateStaleMs } from "./constants.ts";
import { metricValuesBy, scrapeNode } from "./store-scrape.ts";
import type { Arc } from "./traffic-stats.ts";

export const gatewayRegionMetric = "rs_gateway_requests_by_region_total";
const metricsPath = `${gatewayConstants.adminPrefix}metrics`;

type Sample = { readonly atMs: number; readonly counts: ReadonlyMap<string, number> };
type Rate = { readonly site: string; readonly atMs: number; readonly perS: ReadonlyMap<string, number> };

/** One (region, site) rate as the gateways of the site count it. */
export type GatewayArc = { readonly region: string; readonly site: string; readonly reqPerS: number };

export class GatewayTraffic {
  readonly #regions: ReadonlySet<string>;
  readonly #now: () => number;
  readonly #last = new Map<string, Sample>();
  readonly #rates = new Map<string, Rate>();

  constructor(regions: readonly string[], now: () => number = Date.now) {
    this.#regions = new Set(regions);
    this.#now = now;
  }

  /** Takes one gateway's metrics text (null: it did not answer, so it serves nobody now). */
  take(gateway: string, site: string, text: string | null): void {
    const atMs = this.#now();
    if (text === null) {
      this.#last.delete(gateway);
      this.#rates.delete(gateway);
      return;
    }
    const counts = new Map<string, number>();
    for (const [region, v] of metricValuesBy(text, gatewayRegionMetric, "region")) {
      if (this.#regions.has(region)) counts.set(region, v);
    }
    const prev = this.#last.get(gateway);
    this.#last.set(gateway, { atMs, counts });
    if (!prev || atMs <= prev.atMs) return;
    const perS = new Map<string, number>();
    for (const [region, v] of counts) {
      // A restarted gateway counts from 0 again: its count since the restart is what it took.
      const delta = v >= (prev.counts.get(region) ?? 0) ? v - (prev.counts.get(region) ?? 0) : v;
      if (delta > 0) perS.set(region, (delta * 1000) / (atMs - prev.atMs));
    }
    this.#rates.set(gateway, { site, atMs, perS });
  }

  /** Scrapes every gateway of the planet in parallel. */
  async scrape(planet: Planet, timeoutMs: number, onFailure: (gateway: string, err: unknown) => void): Promise<void> {
    const texts = await Promise.all(
      planet.gateways.map((g) => scrapeNode(g.host, g.port, timeoutMs, (err) => onFailure(g.id, err), metricsPath)),
    );
    for (const [i, g] of planet.gateways.entries()) this.take(g.id, g.site, texts[i]);
  }

  /** The req/s per (region, site) now; a gateway not scraped for gatewayRateStaleMs is left out. */
  arcs(): GatewayArc[] {
    const since = this.#now() - gatewayRateStaleMs;
    const sum = new Map<string, GatewayArc>();
    for (const r of this.#rates.values()) {
      if (r.atMs < since) continue;
      for (const [region, perS] of r.perS) {
        const key = `${region}\u0000${r.site}`;
        sum.set(key, { region, site: r.site, reqPerS: (sum.get(key)?.reqPerS ?? 0) + perS });
      }
    }
    return [...sum.values()];
  }
}

/**
 * The arcs of every user: per (region, site) the larger of the virtual users' ops and the
 * gateways' requests over the arc window (the users' requests are among the gateways', so
 * adding them would count them twice); shares within each region from that. An arc only
 * the gateways see is traffic from users this dashboard does not run (`redshirt load`
 * elsewhere, real clients).
 *
 * `servingNobody` are sites known to serve no one now (every process killed: a held
 * kill-site fault): their arcs go at once rather than when the window has aged them out
 * (up to arcWindowMs + a scrape later), so the map shows where users are served from now.
 */
export function mergeArcs(
  users: readonly Arc[],
  gateways: readonly GatewayArc[],
  servingNobody: ReadonlySet<string> = new Set(),
): Arc[] {
  const byKey = new Map<string, { region: string; site: string; users: number; gateways: number }>();
  for (const a of users) {
    if (servingNobody.has(a.site)) continue;
    byKey.set(`${a.region}\u0000${a.site}`, { region: a.region, site: a.site, users: a.ops, gateways: 0 });
  }
  for (const g of gateways) {
    if (servingNobody.has(g.site)) continue;
    const key = `${g.region}\u0000${g.site}`;
    const ops = Math.round((g.reqPerS * arcWindowMs) / 1000);
    if (ops === 0) continue;
    const e = byKey.get(key);
    if (e) e.gateways = ops;
    else byKey.set(key, { region: g.region, site: g.site, users: 0, gateways: ops });
  }
  const totals = new Map<string, number>();
  for (const e of byKey.values()) {
    totals.set(e.region, (totals.get(e.region) ?? 0) + Math.max(e.users, e.gateways));
  }
  return [...byKey.values()].map((e) => {
    const ops = Math.max(e.users, e.gateways);
    const seenBy = e.users > 0 && e.gateways > 0 ? "both" : e.users > 0 ? "users" : "gateways";
    return { region: e.region, site: e.site, ops, share: ops / Math.max(1, totals.get(e.region) ?? 0), seenBy };
  });
}
