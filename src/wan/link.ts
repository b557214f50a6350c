// One directed link (a site or region to a site) as its link process runs it: the shaper
// with its settings, a TCP proxy socket or UDP relay per endpoint it carries, the
// connections open on it, its counters, and the run-time knobs cut, heal and slow.
import { createServer, type Server, type Socket } from "node:net";
import type { Clock, Logger, Random, TimerHandle } from "../core/index.ts";
import type { DialerKind, LinkPlan } from "../topology/index.ts";
import { connectionsPerLinkMax, listenBacklog, stopGraceMs } from "./constants.ts";
import { wanErrors } from "./errors.ts";
import type { WanMetrics } from "./metrics.ts";
import { LinkShaper } from "./shaper.ts";
import { type ConnectionContext, TcpConnection } from "./tcp-proxy.ts";
import { type DatagramResult, type RelayContext, UdpRelay } from "./udp-relay.ts";

/** A link as the admin API lists it. */
export type LinkStatus = {
  readonly id: string;
  readonly from: string;
  readonly fromKind: DialerKind;
  readonly to: string;
  readonly distanceKm: number;
  /** The one-way delay of the distance alone. */
  readonly oneWayMs: number;
  /** Added at run time by `slow`. */
  readonly extraDelayMs: number;
  /** The round trip a byte sees on an idle link without jitter: 2 × (oneWayMs + extraDelayMs). */
  readonly rttMs: number;
  readonly jitterMs: number;
  /** Per direction; null: no limit. */
  readonly bandwidthMbps: number | null;
  readonly lossPct: number;
  readonly cut: boolean;
  readonly bytes: { readonly forward: number; readonly back: number };
  readonly connections: { readonly total: number; readonly open: number };
  readonly datagrams: { readonly forward: number; readonly back: number; readonly dropped: number };
  readonly udpSessions: number;
  readonly queuedBytes: number;
  /** Proxy sockets (TCP and UDP) this link listens on. */
  readonly listeners: number;
  /** A cut or slow with a time-to-live: this process reverts it at expiry, whoever asked. */
  readonly fault: LinkFaultView | null;
};

/** A change with a time-to-live, as the link lists it. */
export type LinkFaultView = {
  readonly id: string;
  readonly kind: "cut" | "slow";
  readonly ttlMs: number;
  readonly expiresInMs: number;
};

/** Who asked for a change with a time-to-live (absent: it stays until changed again). */
export type LinkTtl = { readonly ttlMs: number; readonly faultId: string };

/** What `slow` may change; null bandwidth lifts the limit. */
export type LinkSlow = { readonly extraDelayMs?: number; readonly bandwidthMbps?: number | null };

export type LinkComponents = { readonly clock: Clock; readonly random: Random; readonly log: Logger };

export type LinkDefaults = {
  readonly jitterMs: number;
  readonly bandwidthMbps: number | null;
  readonly lossPct: number;
};

export class Link implements ConnectionContext, RelayContext {
  readonly plan: LinkPlan;
  readonly shaper: LinkShaper;
  readonly #metrics: WanMetrics;
  readonly #log: Logger;
  readonly #connections = new Set<TcpConnection>();
  readonly #servers: Server[] = [];
  readonly #relays: UdpRelay[] = [];
  readonly #loggedErrors = new Set<string>();
  readonly #labels: { link: string };
  #bytes = { forward: 0, back: 0 };
  /** What the Prometheus counter already has: the hot path only adds to #bytes. */
  #bytesFlushed = { forward: 0, back: 0 };
  #datagrams = { forward: 0, back: 0, dropped: 0 };
  #connectionsTotal = 0;
  #fault: { id: string; kind: "cut" | "slow"; ttlMs: number; untilMono: number; timer: TimerHandle } | undefined;

  constructor(plan: LinkPlan, defaults: LinkDefaults, components: LinkComponents, metrics: WanMetrics) {
    this.plan = plan;
    this.#metrics = metrics;
    this.#log = components.log.child({ link: plan.id });
    this.#labels = { link: plan.id };
    this.shaper = new LinkShaper(components, { oneWayMs: plan.oneWayMs, extraDelayMs: 0, cut: false, ...defaults });
  }

  get id(): string {
    return this.plan.id;
  }

  /** Listens on every proxy address of the link. */
  async start(): Promise<void> {
    for (const l of this.plan.listeners) {
      if (l.target.protocol === "udp") {
        const relay = new UdpRelay(this, l.listen, l.target);
        this.#relays.push(relay);
        await relay.start();
        continue;
      }
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) =>
        this.#accept(socket, l.target),
      );
      this.#servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", (cause) =>
          reject(
            wanErrors.create("RS_ERR_WAN_LISTEN", `tcp ${l.listen.host}:${l.listen.port} (${this.id})`, { cause }),
          ),
        );
        server.listen({ host: l.listen.host, port: l.listen.port, backlog: listenBacklog }, () => {
          server.removeAllListeners("error");
          server.on("error", (err) => this.#log.error("proxy listener error", { err }));
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.#clearFault();
    const closed = this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    await Promise.all(this.#relays.map((r) => r.stop()));
    const deadline = this.shaper.clock.monoMs() + stopGraceMs;
    while (this.#connections.size > 0 && this.shaper.clock.monoMs() < deadline) {
      await new Promise<void>((resolve) => this.shaper.clock.setTimer(20, resolve));
    }
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    await Promise.all(closed);
  }

  /** Cuts the link; with a ttl, this process heals it at expiry (a forgotten partition heals itself). */
  cut(ttl?: LinkTtl): void {
    if (ttl) this.#armFault("cut", ttl, () => this.heal());
    if (this.shaper.settings.cut) return;
    this.shaper.update({ cut: true });
    for (const c of this.#connections) c.cut();
    for (const r of this.#relays) r.cut();
    this.#log.info("link cut", { open: this.#connections.size });
  }

  heal(): void {
    if (this.#fault?.kind === "cut") this.#clearFault();
    if (!this.shaper.settings.cut) return;
    this.shaper.update({ cut: false });
    for (const c of this.#connections) c.heal();
    for (const r of this.#relays) r.heal();
    this.#log.info("link healed", { open: this.#connections.size });
  }

  /** Changes delay or bandwidth; with a ttl, the settings before it come back at expiry. */
  slow(change: LinkSlow, ttl?: LinkTtl): void {
    if (ttl) {
      // A second slow with a ttl keeps the settings from before the first.
      if (this.#fault?.kind !== "slow") {
        const s = this.shaper.settings;
        this.#slowRevert = { extraDelayMs: s.extraDelayMs, bandwidthMbps: s.bandwidthMbps };
      }
      this.#armFault("slow", ttl, () => this.#revertSlow());
    } else if (this.#fault?.kind === "slow") this.#clearFault();
    this.shaper.update({
      ...(change.extraDelayMs !== undefined && { extraDelayMs: change.extraDelayMs }),
      ...(change.bandwidthMbps !== undefined && { bandwidthMbps: change.bandwidthMbps }),
    });
    this.#log.info("link settings changed", { ...change });
  }

  #slowRevert: LinkSlow | undefined;

  /** Lifts a slow with a ttl at once (the settings before it come back). */
  unslow(): void {
    if (this.#fault?.kind !== "slow") return;
    this.#clearFault();
    this.#revertSlow();
  }

  #revertSlow(): void {
    const back = this.#slowRevert;
    this.#slowRevert = undefined;
    if (back) this.slow(back);
  }

  #armFault(kind: "cut" | "slow", ttl: LinkTtl, revert: () => void): void {
    this.#fault?.timer.cancel();
    const clock = this.shaper.clock;
    const timer = clock.setTimer(ttl.ttlMs, () => {
      if (this.#fault?.timer !== timer) return;
      this.#fault = undefined;
      this.#log.info("fault expired: reverting", { id: ttl.faultId, kind });
      revert();
    });
    this.#fault = { id: ttl.faultId, kind, ttlMs: ttl.ttlMs, untilMono: clock.monoMs() + ttl.ttlMs, timer };
  }

  #clearFault(): void {
    this.#fault?.timer.cancel();
    this.#fault = undefined;
  }

  status(): LinkStatus {
    const s = this.shaper.settings;
    let queuedBytes = 0;
    for (const c of this.#connections) queuedBytes += c.queuedBytes;
    return {
      id: this.id,
      from: this.plan.from,
      fromKind: this.plan.fromKind,
      to: this.plan.to,
      distanceKm: Math.round(this.plan.distanceKm),
      oneWayMs: round3(s.oneWayMs),
      extraDelayMs: s.extraDelayMs,
      rttMs: round3(2 * this.shaper.delayMs),
      jitterMs: s.jitterMs,
      bandwidthMbps: s.bandwidthMbps,
      lossPct: s.lossPct,
      cut: s.cut,
      bytes: { ...this.#bytes },
      connections: { total: this.#connectionsTotal, open: this.#connections.size },
      datagrams: { ...this.#datagrams },
      udpSessions: this.sessionsOnLink(),
      queuedBytes,
      listeners: this.#servers.length + this.#relays.length,
      fault: this.#fault
        ? {
            id: this.#fault.id,
            kind: this.#fault.kind,
            ttlMs: this.#fault.ttlMs,
            expiresInMs: Math.max(0, Math.round(this.#fault.untilMono - this.shaper.clock.monoMs())),
          }
        : null,
    };
  }

  // --- ConnectionContext and RelayContext: what connections and relays report. ---

  delivered(direction: "forward" | "back", bytes: number): void {
    // Called per chunk on the data path: a plain add, the counter catches up on scrape.
    this.#bytes[direction] += bytes;
  }

  /** Brings the byte counters into the metrics registry (before a scrape). */
  flushMetrics(): void {
    for (const direction of ["forward", "back"] as const) {
      const delta = this.#bytes[direction] - this.#bytesFlushed[direction];
      if (delta > 0) this.#metrics.bytes.inc({ link: this.id, direction }, delta);
      this.#bytesFlushed[direction] = this.#bytes[direction];
    }
  }

  paused(): void {
    this.#metrics.backpressurePauses.inc(this.#labels);
  }

  socketError(side: "client" | "upstream", err: NodeJS.ErrnoException): void {
    const code = err.code ?? "unknown";
    this.#metrics.socketErrors.inc({ link: this.id, side, code });
    const key = `${side}:${code}`;
    if (this.#loggedErrors.has(key)) return;
    this.#loggedErrors.add(key);
    // Logged once per link, side and code; the counter has every one.
    this.#log.info("socket error (first of its kind on this link)", { side, code, err });
  }

  finished(conn: TcpConnection): void {
    this.#connections.delete(conn);
  }

  datagram(direction: "forward" | "back", result: DatagramResult, bytes: number): void {
    this.#metrics.datagrams.inc({ link: this.id, direction, result });
    if (result === "delivered") {
      this.#datagrams[direction]++;
      this.delivered(direction, bytes);
    } else this.#datagrams.dropped++;
  }

  sessionsOnLink(): number {
    let n = 0;
    for (const r of this.#relays) n += r.sessions;
    return n;
  }

  #accept(socket: Socket, target: { host: string; port: number }): void {
    if (this.#connections.size >= connectionsPerLinkMax) {
      this.#metrics.refused.inc({ link: this.id, reason: "connections-full" });
      this.#log.warn("connection refused: the link's connection bound is reached", { max: connectionsPerLinkMax });
      socket.destroy();
      return;
    }
    this.#connectionsTotal++;
    this.#metrics.connections.inc(this.#labels);
    this.#connections.add(new TcpConnection(this, socket, target));
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
