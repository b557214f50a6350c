// Prometheus metrics of one link process, every series labelled by link (`from->to`).
// Failures are counted by reason: a healthy run keeps the error counters at 0 except for
// resets and refusals the endpoints themselves cause.
import { type Counter, type Gauge, Registry } from "../core/index.ts";

export type LinkGaugeSource = () => Array<{
  link: string;
  open: number;
  udpSessions: number;
  cut: boolean;
  delayMs: number;
  queuedBytes: number;
}>;

export class WanMetrics {
  readonly registry = new Registry();
  /** Bytes that crossed a link, by direction (forward: dialer to target); brought up to date on render. */
  readonly bytes: Counter;
  readonly connections: Counter;
  /** Datagrams by direction and result: delivered, lost, cut, queue-full, sessions-full. */
  readonly datagrams: Counter;
  /** Socket errors by side (client, upstream) and code; resets and refusals are the endpoints' doing. */
  readonly socketErrors: Counter;
  /** Connections refused by the link itself, by reason (connections-full). */
  readonly refused: Counter;
  /** Times a reader was paused because its queue passed the bound. */
  readonly backpressurePauses: Counter;
  readonly adminRequests: Counter;
  readonly #open: Gauge;
  readonly #sessions: Gauge;
  readonly #cut: Gauge;
  readonly #delay: Gauge;
  readonly #queued: Gauge;
  readonly #beforeRender: (() => void) | undefined;

  /** beforeRender: brings counters kept elsewhere (per-chunk byte counts) into the registry. */
  constructor(source: LinkGaugeSource, beforeRender?: () => void) {
    this.#beforeRender = beforeRender;
    const r = this.registry;
    this.bytes = r.counter("redshirt_wan_bytes_total", "Bytes delivered across a link, by direction");
    this.connections = r.counter("redshirt_wan_connections_total", "TCP connections accepted on a link");
    this.datagrams = r.counter("redshirt_wan_datagrams_total", "UDP datagrams on a link, by direction and result");
    this.socketErrors = r.counter("redshirt_wan_socket_errors_total", "Socket errors on a link, by side and code");
    this.refused = r.counter("redshirt_wan_refused_total", "Connections the link closed itself, by reason");
    this.backpressurePauses = r.counter(
      "redshirt_wan_backpressure_pauses_total",
      "Readers paused because a link queue passed its bound",
    );
    this.adminRequests = r.counter("redshirt_wan_admin_requests_total", "Admin requests, by result");
    this.#open = r.gauge("redshirt_wan_connections_open", "TCP connections open on a link");
    this.#sessions = r.gauge("redshirt_wan_udp_sessions", "UDP sessions open on a link");
    this.#cut = r.gauge("redshirt_wan_link_cut", "1 while a link is cut");
    this.#delay = r.gauge("redshirt_wan_link_delay_ms", "One-way delay of a link (distance plus extra)");
    this.#queued = r.gauge("redshirt_wan_queued_bytes", "Bytes in flight or waiting on a link");
    const pick = (f: (x: ReturnType<LinkGaugeSource>[number]) => number) => () =>
      source().map((x) => [{ link: x.link }, f(x)] as [Record<string, string>, number]);
    this.#open.collect(pick((x) => x.open));
    this.#sessions.collect(pick((x) => x.udpSessions));
    this.#cut.collect(pick((x) => (x.cut ? 1 : 0)));
    this.#delay.collect(pick((x) => x.delayMs));
    this.#queued.collect(pick((x) => x.queuedBytes));
  }

  render(): string {
    this.#beforeRender?.();
    return this.registry.render();
  }
}
