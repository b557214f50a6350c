// The gateway's Prometheus metrics. Counters on the request path are plain numbers indexed
// by small integers or precomputed label strings (no per-request label formatting); the
// text is built only when scraped. Gauges are computed at scrape time from live state.
import { type Gauge, type Histogram, Registry } from "../../core/index.ts";
import { type Cidr, cidrContains, parseIpv4 } from "../../topology/index.ts";
import type { FailureKind, Target } from "./balancer.ts";

const statusMax = 600;
/** Client addresses whose region is remembered (a user's address is its region's for good). */
const regionCacheMax = 4096;
/** The label of a request from no client region's subnet (another site's gateway, a local tool). */
export const regionOther = "other";

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

class KeyedCounter {
  readonly name: string;
  readonly help: string;
  readonly label: string;
  readonly values = new Map<string, number>();
  constructor(name: string, help: string, label: string) {
    this.name = name;
    this.help = help;
    this.label = label;
  }
  inc(key: string, by = 1): void {
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  get(key: string): number {
    return this.values.get(key) ?? 0;
  }
  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    if (this.values.size === 0) out += `${this.name} 0\n`;
    for (const [k, v] of this.values) out += `${this.name}{${this.label}="${esc(k)}"} ${v}\n`;
    return out;
  }
}

export type GaugeSources = {
  readonly localTargets: () => readonly Target[];
  readonly remoteTargets: () => readonly Target[];
  readonly eligible: (t: Target) => boolean;
  /** Local instances alive (lease live, checks pass), ejected or not. */
  readonly liveInstances: () => number;
  /** Whether panic mode ignores ejection now. */
  readonly panic: () => boolean;
  readonly clientConnections: () => number;
  readonly retryTokens: () => number;
};

export class GatewayMetrics {
  /** Responses sent to clients by status code. */
  readonly byStatus = new Float64Array(statusMax);
  readonly retries = new KeyedCounter("rs_gateway_retries_total", "Tries moved to another target, by why.", "reason");
  readonly retriesDenied = new KeyedCounter(
    "rs_gateway_retries_denied_total",
    "Failed tries not moved to another target, by why not.",
    "reason",
  );
  readonly upstreamFailures = new KeyedCounter(
    "rs_gateway_upstream_failures_total",
    "Tries that failed at the gateway level, by kind.",
    "kind",
  );
  readonly ejections = new KeyedCounter(
    "rs_gateway_ejections_total",
    "Targets ejected by passive outlier detection.",
    "target",
  );
  readonly crossSite = new KeyedCounter(
    "rs_gateway_cross_site_forwards_total",
    "Tries forwarded to another site's gateway (priority failover), by site.",
    "site",
  );
  readonly panics = new KeyedCounter(
    "rs_gateway_panics_total",
    "Times panic mode started (most live instances ejected: ejection ignored), by balancer.",
    "balancer",
  );
  readonly rejected = new KeyedCounter(
    "rs_gateway_rejected_total",
    "Requests refused before forwarding, by status.",
    "status",
  );
  /**
   * Requests accepted, by the client region whose subnet the connection comes from: the WAN's
   * access links dial on from the user's own address (docs/wan.md), so the peer address
   * names the region. Labels: the planet's regions and "other", nothing else.
   */
  readonly byRegion = new KeyedCounter(
    "rs_gateway_requests_by_region_total",
    'Requests accepted, by the client region of their source address ("other": none).',
    "region",
  );
  #regions: readonly { readonly name: string; readonly subnetCidr: Cidr }[] = [];
  readonly #regionOfIp = new Map<string, string>();
  readonly sourceLimited = new KeyedCounter(
    "rs_gateway_source_limited_total",
    "Connections or requests refused by a per-source cap (429), by limit: connections, rate.",
    "limit",
  );
  readonly shed = new KeyedCounter(
    "rs_gateway_overloaded_total",
    "Requests answered 503 + Retry-After because every instance was saturated, by why: queue-full, queue-timeout.",
    "why",
  );
  readonly queued = new KeyedCounter(
    "rs_gateway_queued_total",
    "Requests that waited in an instance's queue (every instance saturated), by site.",
    "site",
  );
  readonly untrustedHops = new KeyedCounter(
    "rs_gateway_untrusted_hops_total",
    "Requests whose RS-Hop was not believed (not from a peer gateway's address, or a bad stamp), by why.",
    "why",
  );
  readonly closes = new KeyedCounter(
    "rs_gateway_client_closes_total",
    "Client connections the gateway closed on a timer, by which: head, idle, linger.",
    "timer",
  );
  readonly registry = new Registry();
  readonly upstreamLatency: Histogram;
  readonly crossSiteLatency: Histogram;

  constructor(sources: GaugeSources) {
    const r = this.registry;
    this.upstreamLatency = r.histogram(
      "rs_gateway_upstream_latency_ms",
      "From sending a try to a local app instance to its response head, ms.",
    );
    this.crossSiteLatency = r.histogram(
      "rs_gateway_cross_site_latency_ms",
      "From forwarding a try to another site's gateway to its response head, ms.",
    );
    const gauge = (
      name: string,
      help: string,
      fn: () => Array<[Record<string, string> | undefined, number]>,
    ): Gauge => {
      const g = r.gauge(name, help);
      g.collect(fn);
      return g;
    };
    gauge("rs_gateway_healthy_instances", "Local app instances that get traffic now.", () => [
      [undefined, sources.localTargets().filter(sources.eligible).length],
    ]);
    gauge("rs_gateway_live_instances", "Local app instances alive (lease live, checks pass), ejected or not.", () => [
      [undefined, sources.liveInstances()],
    ]);
    gauge("rs_gateway_panic", "1 while panic mode ignores ejection (most live instances are ejected).", () => [
      [undefined, sources.panic() ? 1 : 0],
    ]);
    gauge("rs_gateway_target_up", "1 when a target gets traffic now (healthy, not ejected, not draining).", () =>
      [...sources.localTargets(), ...sources.remoteTargets()].map((t) => [
        { target: t.id, site: t.site, kind: t.kind },
        sources.eligible(t) ? 1 : 0,
      ]),
    );
    gauge("rs_gateway_target_outstanding", "Requests in flight per target.", () =>
      [...sources.localTargets(), ...sources.remoteTargets()].map((t) => [{ target: t.id }, t.outstanding]),
    );
    gauge("rs_gateway_target_connections", "Upstream connections open per target.", () =>
      [...sources.localTargets(), ...sources.remoteTargets()].map((t) => [{ target: t.id }, t.open]),
    );
    gauge("rs_gateway_client_connections", "Client connections open.", () => [
      [undefined, sources.clientConnections()],
    ]);
    gauge("rs_gateway_retry_budget_tokens", "Retries the budget allows right now.", () => [
      [undefined, Math.floor(sources.retryTokens())],
    ]);
  }

  countStatus(status: number): void {
    if (status > 0 && status < statusMax) this.byStatus[status]++;
  }

  /** The client regions whose subnets name where a request comes from. */
  countRegionsOf(regions: readonly { readonly name: string; readonly subnetCidr: Cidr }[]): void {
    this.#regions = regions;
    this.#regionOfIp.clear();
  }

  /** Counts one accepted request under its client's region. */
  countRegion(ip: string): void {
    let region = this.#regionOfIp.get(ip);
    if (region === undefined) {
      const n = parseIpv4(ip);
      region = (n !== undefined && this.#regions.find((r) => cidrContains(r.subnetCidr, n))?.name) || regionOther;
      if (this.#regionOfIp.size >= regionCacheMax) this.#regionOfIp.clear();
      this.#regionOfIp.set(ip, region);
    }
    this.byRegion.inc(region);
  }

  countFailure(kind: FailureKind): void {
    this.upstreamFailures.inc(kind);
  }

  requests(status: number): number {
    return this.byStatus[status];
  }

  render(): string {
    let out = "# HELP rs_gateway_requests_total Responses sent to clients, by status code.\n";
    out += "# TYPE rs_gateway_requests_total counter\n";
    let any = false;
    for (let s = 100; s < statusMax; s++) {
      if (this.byStatus[s] > 0) {
        out += `rs_gateway_requests_total{code="${s}"} ${this.byStatus[s]}\n`;
        any = true;
      }
    }
    if (!any) out += "rs_gateway_requests_total 0\n";
    for (const c of [
      this.retries,
      this.retriesDenied,
      this.upstreamFailures,
      this.ejections,
      this.crossSite,
      this.panics,
      this.rejected,
      this.byRegion,
      this.sourceLimited,
      this.shed,
      this.queued,
      this.untrustedHops,
      this.closes,
    ]) {
      out += c.render();
    }
    return out + this.registry.render();
  }
}
