// The DNS server's Prometheus metrics, served on the admin endpoint at /metrics.
import { type Counter, type Gauge, type Histogram, Registry } from "../../core/index.ts";

/**
 * Counts on the query path by a key of label values joined with "|", and hands the sums
 * to the Prometheus counter when scraped: a Map increment per query instead of building
 * and sorting a label set (which costs more than answering a cached query).
 */
export class BatchedCounter {
  readonly #counter: Counter;
  readonly #labelNames: readonly string[];
  readonly #pending = new Map<string, number>();

  constructor(counter: Counter, labelNames: readonly string[]) {
    this.#counter = counter;
    this.#labelNames = labelNames;
  }

  add(key: string): void {
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
  }

  flush(): void {
    for (const [key, n] of this.#pending) {
      const values = key.split("|");
      const labels: Record<string, string> = {};
      this.#labelNames.forEach((name, i) => {
        labels[name] = values[i] ?? "";
      });
      this.#counter.inc(labels, n);
    }
    this.#pending.clear();
  }
}

export type DnsMetrics = {
  readonly registry: Registry;
  /** Flushes the batched counters and renders the Prometheus text. */
  render(): string;
  /** Queries answered or dropped, keyed "transport|qtype|rcode" (rcode "DROP" when none was sent). */
  readonly queries: BatchedCounter;
  /** Answers for a service name, keyed by the site listed first. */
  readonly answers: BatchedCounter;
  /** UDP answers that did not fit and were sent with TC=1. */
  readonly truncated: Counter;
  /** UDP answers held back by response-rate limiting, keyed by action: "drop" or "slip" (sent with TC=1). */
  readonly rrl: BatchedCounter;
  /** Response cache lookups, keyed "hit" or "miss". */
  readonly responseCache: BatchedCounter;
  /** Weight file writes and reads that failed (the server keeps running on what it has in memory). */
  readonly weightsFileErrors: Counter;
  /** Gateway probes by gateway and result. */
  readonly probes: Counter;
  /** Reads of peer views by peer and result. */
  readonly peerReads: Counter;
  /** TCP connections refused or closed for a limit, by reason. */
  readonly tcpClosed: Counter;
  /** Admin writes refused for want of the control token. */
  readonly adminUnauthorized: Counter;
  /** Admin writes refused for their method, content type or a cross-site origin, by reason. */
  readonly adminRefused: Counter;
  /** Per site: 1 when it is in the answers by consensus, else 0. */
  readonly siteUp: Gauge;
  /** Per site: 1 when this server's own probes see a healthy gateway, else 0. */
  readonly siteProbeUp: Gauge;
  /** Per site: its current weight. */
  readonly siteWeight: Gauge;
  /** Per peer: 1 when its view is fresh enough to vote. */
  readonly peerFresh: Gauge;
  readonly tcpConnections: Gauge;
  /** Time to handle one query, in ms (sampled: every 64th query). */
  readonly handleMs: Histogram;
};

export function createDnsMetrics(): DnsMetrics {
  const registry = new Registry();
  const queries = new BatchedCounter(
    registry.counter("rs_dns_queries_total", "DNS queries by transport, qtype and rcode."),
    ["transport", "qtype", "rcode"],
  );
  const answers = new BatchedCounter(
    registry.counter("rs_dns_answers_total", "Answers for service names by the site listed first."),
    ["first_site"],
  );
  const rrl = new BatchedCounter(
    registry.counter("rs_dns_rrl_limited_total", "UDP answers held back by response-rate limiting, by action."),
    ["action"],
  );
  const responseCache = new BatchedCounter(
    registry.counter("rs_dns_response_cache_total", "Response cache lookups by result (hit, miss)."),
    ["result"],
  );
  return {
    registry,
    render: () => {
      queries.flush();
      answers.flush();
      rrl.flush();
      responseCache.flush();
      return registry.render();
    },
    queries,
    answers,
    rrl,
    responseCache,
    weightsFileErrors: registry.counter(
      "rs_dns_weights_file_errors_total",
      "Failed reads and writes of the persisted weights file, by op.",
    ),
    truncated: registry.counter("rs_dns_truncated_total", "UDP responses sent truncated (TC=1)."),
    probes: registry.counter("rs_dns_probes_total", "Gateway health probes by gateway and result."),
    peerReads: registry.counter("rs_dns_peer_reads_total", "Reads of peer DNS servers' probe views by result."),
    tcpClosed: registry.counter("rs_dns_tcp_closed_total", "TCP connections closed by the server, by reason."),
    adminUnauthorized: registry.counter(
      "rs_dns_admin_unauthorized_total",
      "Admin writes (weights) refused for a missing or wrong control token.",
    ),
    adminRefused: registry.counter(
      "rs_dns_admin_refused_total",
      "Admin writes refused for their method, content type or cross-site origin, by reason.",
    ),
    siteUp: registry.gauge("rs_dns_site_up", "1 when the site is in the answers by consensus of vantage points."),
    siteProbeUp: registry.gauge("rs_dns_site_probe_up", "1 when this server's own probes see a healthy gateway."),
    siteWeight: registry.gauge("rs_dns_site_weight", "The site's weight (0 evacuated, 100 full)."),
    peerFresh: registry.gauge("rs_dns_peer_view_fresh", "1 when the peer's probe view is fresh enough to vote."),
    tcpConnections: registry.gauge("rs_dns_tcp_connections", "Open TCP connections."),
    handleMs: registry.histogram(
      "rs_dns_handle_ms",
      "Time to handle one query (sampled 1/64).",
      [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    ),
  };
}
