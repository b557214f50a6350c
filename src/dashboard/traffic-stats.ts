// What the virtual users' operations say about the planet: each finished op (a history
// record of src/verify: the user's region, the site and instance that served it, how long it
// took, its outcome) is kept for a short window, and from that window come the arcs (region
// → serving site, with their share of the region's ops), req/s, p99 and errors per site and
// per instance, and p99 per region. Once a step the figures become one chart point.
import type { OpRecord } from "../verify/index.ts";
import { arcWindowMs, opsKeptMax, rateWindowMs, seriesPointsMax } from "./constants.ts";
import type { Replication } from "./store-scrape.ts";

type Seen = {
  readonly atMs: number;
  readonly region: string;
  readonly site: string | null;
  readonly instance: string | null;
  readonly latencyMs: number;
  readonly ok: boolean;
};

export type Arc = {
  readonly region: string;
  readonly site: string;
  readonly ops: number;
  readonly share: number;
  /** Who saw it: the virtual users' ops, the gateways' counts by region (gateway-traffic.ts), or both. */
  readonly seenBy?: "users" | "gateways" | "both";
};
export type Figures = { readonly reqPerS: number; readonly p99Ms: number | null; readonly errors: number };

export type TrafficView = {
  readonly arcs: readonly Arc[];
  readonly sites: Readonly<Record<string, Figures>>;
  readonly instances: Readonly<Record<string, Figures>>;
  readonly regions: Readonly<Record<string, Figures>>;
  readonly totalOps: number;
  readonly totalErrors: number;
};

/** One chart point: req/s per site, p99 per region (null: no op finished), user-visible errors per second. */
export type SeriesPoint = {
  readonly tS: number;
  readonly reqPerSBySite: readonly number[];
  readonly p99MsByRegion: readonly (number | null)[];
  readonly errorsPerS: number;
  /** From the store nodes' metrics (null: no node of the site answered). */
  readonly lagMsBySite: readonly (number | null)[];
  readonly hintsBySite: readonly (number | null)[];
};

function p99(latencies: number[]): number | null {
  if (latencies.length === 0) return null;
  latencies.sort((a, b) => a - b);
  return latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)];
}

function figures(ops: readonly Seen[], windowMs: number): Figures {
  return {
    reqPerS: (ops.length * 1000) / windowMs,
    p99Ms: p99(ops.map((o) => o.latencyMs)),
    errors: ops.filter((o) => !o.ok).length,
  };
}

function groupBy(ops: readonly Seen[], key: (o: Seen) => string | null): Map<string, Seen[]> {
  const out = new Map<string, Seen[]>();
  for (const o of ops) {
    const k = key(o);
    if (k === null) continue;
    const list = out.get(k) ?? [];
    list.push(o);
    out.set(k, list);
  }
  return out;
}

export class TrafficStats {
  readonly #sites: readonly string[];
  readonly #regions: readonly string[];
  readonly #now: () => number;
  #ops: Seen[] = [];
  #series: SeriesPoint[] = [];
  #totalOps = 0;
  #totalErrors = 0;

  constructor(sites: readonly string[], regions: readonly string[], now: () => number = Date.now) {
    this.#sites = sites;
    this.#regions = regions;
    this.#now = now;
  }

  /** Takes one finished op (what runLoad writes into its history). */
  add(op: OpRecord): void {
    const ok = op.outcome.result === "ok";
    this.#totalOps++;
    if (!ok) this.#totalErrors++;
    this.#ops.push({
      atMs: this.#now(),
      region: op.region,
      site: op.served?.site ?? null,
      instance: op.served?.instance ?? null,
      latencyMs: op.endMs - op.startMs,
      ok,
    });
    if (this.#ops.length > opsKeptMax) this.#ops.splice(0, this.#ops.length - opsKeptMax);
  }

  #within(windowMs: number): Seen[] {
    const since = this.#now() - windowMs;
    let i = 0;
    while (i < this.#ops.length && this.#ops[i].atMs < since) i++;
    if (i > 0 && windowMs >= rateWindowMs) this.#ops.splice(0, i);
    return windowMs >= rateWindowMs ? this.#ops : this.#ops.slice(i);
  }

  view(): TrafficView {
    const recent = this.#within(rateWindowMs);
    const arcOps = this.#within(arcWindowMs);
    const arcs: Arc[] = [];
    for (const [region, ops] of groupBy(arcOps, (o) => o.region)) {
      const served = ops.filter((o) => o.ok && o.site !== null);
      for (const [site, list] of groupBy(served, (o) => o.site)) {
        arcs.push({ region, site, ops: list.length, share: list.length / Math.max(1, served.length) });
      }
    }
    const toRecord = (m: Map<string, Seen[]>) =>
      Object.fromEntries([...m].map(([k, ops]) => [k, figures(ops, rateWindowMs)]));
    return {
      arcs,
      sites: toRecord(groupBy(recent, (o) => o.site)),
      instances: toRecord(groupBy(recent, (o) => o.instance)),
      regions: toRecord(groupBy(recent, (o) => o.region)),
      totalOps: this.#totalOps,
      totalErrors: this.#totalErrors,
    };
  }

  /** Closes one chart step of stepMs: the point over it, kept (the oldest dropped past seriesPointsMax). */
  step(stepMs: number, replication: Replication): SeriesPoint {
    const nowMs = this.#now();
    const ops = this.#within(rateWindowMs).filter((o) => o.atMs >= nowMs - stepMs);
    const bySite = groupBy(ops, (o) => o.site);
    const byRegion = groupBy(ops, (o) => o.region);
    const point: SeriesPoint = {
      tS: Math.round(nowMs / 1000),
      reqPerSBySite: this.#sites.map((s) => ((bySite.get(s)?.length ?? 0) * 1000) / stepMs),
      p99MsByRegion: this.#regions.map((r) => p99((byRegion.get(r) ?? []).map((o) => o.latencyMs))),
      errorsPerS: (ops.filter((o) => !o.ok).length * 1000) / stepMs,
      lagMsBySite: replication.lagMsBySite,
      hintsBySite: replication.hintsBySite,
    };
    this.#series.push(point);
    if (this.#series.length > seriesPointsMax) this.#series.shift();
    return point;
  }

  series(): readonly SeriesPoint[] {
    return this.#series;
  }
}
