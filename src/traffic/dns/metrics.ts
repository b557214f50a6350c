// The DNS server's Prometheus metrics, served on the admin endpoint at /metrics.
import { type Counter, type Gauge, type Histogram, Registry } from "../../core/index.ts";

export type DnsMetrics = {
  readonly registry: Registry;
  /** Queries answered or dropped, by transport, query type and response code ("DROP" when none was sent). */
  readonly queries: Counter;
  /** Answers for a service name, by the site listed first. */
  readonly answers: Counter;
  /** UDP answers that did not fit and were sent with TC=1. */
  readonly truncated: Counter;
  /** Gateway probes by gateway and result. */
  readonly probes: Counter;
  /** Reads of peer views by peer and result. */
  readonly peerReads: Counter;
  /** TCP connections refused or closed for a limit, by reason. */
  readonly tcpClosed: Counter;
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
  return {
    registry,
    queries: registry.counter("rs_dns_queries_total", "DNS queries by transport, qtype and rcode."),
    answers: registry.counter("rs_dns_answers_total", "Answers for service names by the site listed first."),
    truncated: registry.counter("rs_dns_truncated_total", "UDP responses sent truncated (TC=1)."),
    probes: registry.counter("rs_dns_probes_total", "Gateway health probes by gateway and result."),
    peerReads: registry.counter("rs_dns_peer_reads_total", "Reads of peer DNS servers' probe views by result."),
    tcpClosed: registry.counter("rs_dns_tcp_closed_total", "TCP connections closed by the server, by reason."),
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
