// The site gateway: listens on its site's gateway address, balances requests over the
// site's app instances (found by its instance source: the registry in production), and
// when the site has no healthy instance forwards to the nearest site whose gateway reports
// local capacity. This file wires the parts (instance source, balancers, health checks,
// retry budget, metrics, the data path) and owns the lifecycle — including the stop that
// leaves DNS first; status.ts renders what it reports, admin.ts answers its own endpoints,
// options.ts says what it is built from. It is the one place where
// production clock, randomness and probes are chosen.
import { createServer, type Server, type Socket } from "node:net";
import {
  type Clock,
  channel,
  createLogger,
  type Logger,
  type Startable,
  systemClock,
  systemRandom,
  type TimerHandle,
} from "../../core/index.ts";
import {
  dialAddress,
  type GatewaySettings,
  type NodeInfo,
  type ServiceSettings,
  siteByName,
  sitesByDistance,
} from "../../topology/index.ts";
import { adminResponse } from "./admin.ts";
import { Balancer, type BalancerEvent, Target } from "./balancer.ts";
import { ClientConn } from "./client.ts";
import {
  clientConnectionsMax,
  gatewayHealthPath,
  healthIntervalMsDefault,
  healthPath,
  healthTimeoutMsDefault,
  leaveDnsMsDefault,
  panicShareDefault,
  peerHealthIntervalMsDefault,
  poolIdleTimeoutMsDefault,
  shutdownGraceMsDefault,
  timeoutSweepIntervalMs,
} from "./constants.ts";
import { type ProxyContext, resolveTimeouts, type Timeouts } from "./context.ts";
import { gatewayErrors } from "./errors.ts";
import { HealthChecker, httpProbe, type Probe } from "./health.ts";
import { HopAuth } from "./hop.ts";
import type { InstanceSource } from "./instances.ts";
import { GatewayMetrics } from "./metrics.ts";
import type { GatewayOptions } from "./options.ts";
import { Pool } from "./pool.ts";
import { reconcileTargets } from "./reconcile.ts";
import type { LocalResponse } from "./responses.ts";
import { RetryBudget } from "./retry.ts";
import { clientAddress } from "./rewrite.ts";
import { ServiceTable } from "./services.ts";
import { refuseConnection, SourceLimits } from "./source-limits.ts";
import { type BackendsView, backendsView, type GatewayHealth, healthView } from "./status.ts";
import type { UpstreamConn } from "./upstream.ts";

/** Tracing: `redshirt:traffic:gateway-target` carries ejections and health changes. */
const targetChannel = channel("traffic", "gateway-target");

export type { GatewayOptions };

export class Gateway implements Startable, ProxyContext {
  readonly clock: Clock;
  readonly log: Logger;
  readonly site: string;
  readonly name: string;
  readonly timeouts: Timeouts;
  readonly metrics: GatewayMetrics;
  readonly budget: RetryBudget;
  readonly local: Balancer<UpstreamConn>;
  readonly remote: Balancer<UpstreamConn>[] = [];
  readonly hostDefault: string;
  readonly sourceAddress: string | undefined;
  readonly pendingPerInstanceMax: number;
  readonly sourceLimits: SourceLimits;
  readonly hops: HopAuth;
  readonly settings: Omit<GatewaySettings, "services">;
  shuttingDown = false;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly #o: GatewayOptions;
  readonly #source: InstanceSource;
  readonly #byId = new Map<string, Target<UpstreamConn>>();
  readonly #remoteBySite = new Map<string, Balancer<UpstreamConn>>();
  readonly #conns = new Set<ClientConn>();
  readonly #checker: HealthChecker;
  readonly #peerChecker: HealthChecker;
  readonly #closers: Array<() => Promise<void>> = [];
  #server: Server | undefined;
  #sweep: TimerHandle | undefined;
  #unsubscribe: (() => void) | undefined;
  #started = false;
  #stopped = false;
  #firstChecks: Promise<void>[] = [];
  #hadCapacity = true;
  /** Ends the leave-DNS wait of a stop in progress early (a second, fast stop). */
  #cutLeave: (() => void) | undefined;
  #stopping: Promise<void> | undefined;
  readonly #services: ServiceTable;

  constructor(options: GatewayOptions) {
    this.#o = options;
    const planet = options.planet;
    const site = siteByName(planet, options.site);
    const index = options.index ?? 1;
    const self = planet.gateways.find((g) => g.site === options.site && g.index === index);
    if (!site || !self) {
      throw gatewayErrors.create("RS_ERR_TRAFFIC_GATEWAY_UNKNOWN_SITE", `site ${options.site} gateway ${index}`);
    }
    this.site = site.name;
    this.name = self.id;
    this.listenHost = options.listen?.host ?? self.host;
    this.listenPort = options.listen?.port ?? self.port;
    this.hostDefault = `${this.listenHost}:${this.listenPort}`;
    // Calls leave from the gateway's own address (a routed site address), unless it listens on a wildcard.
    this.sourceAddress =
      /^\d+\.\d+\.\d+\.\d+$/.test(this.listenHost) && this.listenHost !== "0.0.0.0" ? this.listenHost : undefined;
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    this.log = options.log ?? createLogger({ part: "traffic", gateway: self.id });
    const { services: _services, ...planetSettings } = planet.gateway;
    const settings = { ...planetSettings, ...options.settings };
    this.settings = settings;
    this.timeouts = resolveTimeouts(settings, options.timeouts);
    this.pendingPerInstanceMax = settings.pendingPerInstanceMax;
    this.sourceLimits = new SourceLimits(settings);
    // Without the secret no peer believes this gateway's RS-Hop, and two sites without
    // capacity would forward a request back and forth for ever.
    if ((options.failover ?? true) && planet.sites.length > 1 && options.secret === undefined) {
      throw gatewayErrors.create("RS_ERR_TRAFFIC_GATEWAY_NO_SECRET", `gateway ${self.id}`);
    }
    this.hops = new HopAuth({
      secret: options.secret,
      site: site.name,
      sites: planet.sites.map((s) => s.name),
      peerHosts: planet.gateways.filter((g) => g.site !== site.name).map((g) => g.host),
      clock: this.clock,
    });
    this.#services = new ServiceTable(planet);
    this.budget = new RetryBudget(this.clock);
    const balancerOptions = {
      clock: this.clock,
      random,
      rise: options.rise,
      fall: options.fall,
      slowStartMs: options.slowStartMs,
      ejectBaseMs: options.ejectBaseMs,
      ejectMaxMs: options.ejectMaxMs,
      onEvent: (e: BalancerEvent) => this.#onBalancerEvent(e),
    };
    const panicShare = options.panicShare ?? panicShareDefault;
    this.local = new Balancer<UpstreamConn>({
      ...balancerOptions,
      panicShare: panicShare < 1 ? panicShare : undefined,
      requestsMax: settings.instanceRequestsMax,
    });
    this.#source = options.source;
    if (options.failover ?? true) {
      const peerAddress = options.peerAddress ?? ((g: NodeInfo) => dialAddress(planet, site.name, g));
      for (const other of sitesByDistance(planet, site)) {
        if (other.name === site.name) continue;
        const b = new Balancer<UpstreamConn>({ ...balancerOptions, slowStartMs: 0 });
        for (const g of planet.gateways.filter((x) => x.site === other.name)) {
          const addr = peerAddress(g);
          b.add(new Target({ id: g.id, site: g.site, host: addr.host, port: addr.port, kind: "gateway" }, new Pool()));
        }
        this.remote.push(b);
        this.#remoteBySite.set(other.name, b);
      }
    }
    const probe = (path: string): Probe => {
      if (options.probe) return options.probe;
      const p = httpProbe(path);
      this.#closers.push(p.close);
      return p.probe;
    };
    const healthTimeoutMs = options.healthTimeoutMs ?? healthTimeoutMsDefault;
    this.#checker = new HealthChecker({
      clock: this.clock,
      random,
      intervalMs: options.healthIntervalMs ?? healthIntervalMsDefault,
      timeoutMs: healthTimeoutMs,
      probe: probe(healthPath),
      onResult: (t, ok) => this.local.recordCheck(t as Target<UpstreamConn>, ok),
    });
    this.#peerChecker = new HealthChecker({
      clock: this.clock,
      random,
      intervalMs: options.peerHealthIntervalMs ?? peerHealthIntervalMsDefault,
      timeoutMs: healthTimeoutMs,
      probe: probe(gatewayHealthPath),
      onResult: (t, ok) => this.balancerOf(t as Target<UpstreamConn>).recordCheck(t as Target<UpstreamConn>, ok),
    });
    this.metrics = new GatewayMetrics({
      localTargets: () => this.local.targets,
      remoteTargets: () => this.remote.flatMap((b) => b.targets),
      eligible: (t) =>
        this.balancerOf(t as Target<UpstreamConn>).eligible(t as Target<UpstreamConn>, this.clock.monoMs()),
      liveInstances: () => this.local.liveCount(),
      panic: () => this.local.panic(),
      clientConnections: () => this.#conns.size,
      retryTokens: () => this.budget.tokens,
    });
    this.metrics.countRegionsOf(planet.regions);
  }

  balancerOf(target: Target<UpstreamConn>): Balancer<UpstreamConn> {
    return target.kind === "instance" ? this.local : this.#remoteBySite.get(target.site)!;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#source.start();
    this.#reconcile();
    this.#unsubscribe = this.#source.subscribe(() => this.#reconcile());
    for (const b of this.remote) for (const t of b.targets) this.#firstChecks.push(this.#peerChecker.add(t));
    // The first round of checks says where we stand before the first request arrives.
    const boundMs = (this.#o.healthTimeoutMs ?? healthTimeoutMsDefault) + 200;
    let timer: TimerHandle | undefined;
    await Promise.race([
      Promise.all(this.#firstChecks),
      new Promise<void>((resolve) => {
        timer = this.clock.setTimer(boundMs, resolve);
      }),
    ]);
    timer?.cancel();
    this.#firstChecks = [];
    await this.#listen();
    this.#armSweep();
    if (this.remote.length > 0 && !this.#o.planet.gateways.some((g) => g.host === this.sourceAddress)) {
      this.log.warn(
        "this gateway dials from an address that is not in the planet's plan: peers will not believe its RS-Hop",
        {
          address: this.sourceAddress ?? "(the OS's choice)",
        },
      );
    }
    const h = this.health();
    this.log.info("gateway serving", {
      address: `${this.listenHost}:${this.listenPort}`,
      healthyInstances: h.healthyInstances,
      instances: this.local.targets.length,
      source: this.#source.describe(),
      peers: this.remote.flatMap((b) => b.targets.map((t) => t.id)),
    });
  }

  #listen(): Promise<void> {
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
      const ip = clientAddress(socket.remoteAddress);
      // Peer gateways carry a whole site's failover: no per-source cap for them.
      const counted = !this.hops.isPeerAddress(ip);
      if (counted && !this.sourceLimits.openConnection(ip)) {
        this.metrics.sourceLimited.inc("connections");
        this.metrics.countStatus(429);
        this.log.debug("connection refused: source at its cap", { client: ip });
        refuseConnection(socket, this.timeouts.lingerTimeoutMs);
        return;
      }
      const conn = new ClientConn(socket, this, (c) => {
        this.#conns.delete(c);
        if (counted) this.sourceLimits.closeConnection(ip);
      });
      this.#conns.add(conn);
    });
    server.maxConnections = clientConnectionsMax;
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (cause) => {
        reject(
          gatewayErrors.create("RS_ERR_TRAFFIC_GATEWAY_LISTEN", `${this.listenHost}:${this.listenPort}`, { cause }),
        );
      });
      server.listen({ host: this.listenHost, port: this.listenPort, backlog: 1024 }, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.log.error("listener error", { err }));
        resolve();
      });
    });
  }

  /** The retry choices of the service a Host names (services.ts). */
  serviceOf(host: string | undefined): ServiceSettings {
    return this.#services.of(host);
  }

  /** The port actually bound (differs from listenPort when 0 was asked). */
  get port(): number {
    const a = this.#server?.address();
    return typeof a === "object" && a !== null ? a.port : this.listenPort;
  }

  #armSweep(): void {
    this.#sweep = this.clock.setTimer(timeoutSweepIntervalMs, () => {
      const nowMs = this.clock.monoMs();
      for (const c of this.#conns) c.sweep(nowMs);
      const idleMin = nowMs - poolIdleTimeoutMsDefault;
      for (const t of this.local.targets) t.pool.expire(idleMin);
      for (const b of this.remote) for (const t of b.targets) t.pool.expire(idleMin);
      if (!this.#stopped) this.#armSweep();
    });
  }

  #reconcile(): void {
    reconcileTargets(
      {
        site: this.site,
        local: this.local,
        checker: this.#checker,
        log: this.log,
        byId: this.#byId,
        serving: this.#server !== undefined,
        firstChecks: this.#firstChecks,
      },
      this.#source.instances(),
    );
  }

  #onBalancerEvent(e: BalancerEvent): void {
    if (e.type === "panic") {
      if (targetChannel.hasSubscribers) targetChannel.publish({ gateway: this.name, ...e });
      const fields = { live: e.live, ejected: e.ejected };
      if (e.on) {
        this.metrics.panics.inc("local");
        this.log.warn("panic mode: most live instances are ejected; ignoring ejection", fields);
      } else {
        this.log.info("panic mode over", fields);
      }
      return;
    }
    if (targetChannel.hasSubscribers) {
      const { target, ...rest } = e;
      targetChannel.publish({ gateway: this.name, target: target.id, ...rest });
    }
    if (e.type === "ejected") {
      this.metrics.ejections.inc(e.target.id);
      this.log.warn("target ejected", { target: e.target.id, kind: e.kind, forMs: e.forMs });
    } else {
      this.log.info(e.healthy ? "target healthy" : "target unhealthy", { target: e.target.id });
    }
    if (e.target.kind === "instance" && this.#server) {
      const hasCapacity = this.local.healthyCount() > 0;
      if (hasCapacity !== this.#hadCapacity) {
        this.#hadCapacity = hasCapacity;
        if (hasCapacity) this.log.info("local capacity back: serving from this site");
        else this.log.warn("no local capacity: forwarding to other sites", { to: this.#failoverSite() });
      }
    }
  }

  /** The site this gateway forwards to now, if it has no local capacity. */
  #failoverSite(): string | null {
    for (const b of this.remote) if (b.healthyCount() > 0) return b.targets[0]?.site ?? null;
    return null;
  }

  /** Constant in size whatever the instance count: what DNS servers and peer gateways probe. */
  health(): GatewayHealth {
    return healthView(this, this.#failoverSite());
  }

  /** Every backend, in rotation or not and why: what the supervisor polls before it stops an instance. */
  backends(): BackendsView {
    return backendsView(this, this.#source.describe());
  }

  admin(method: string, path: string): LocalResponse {
    return adminResponse(this, method, path, this.#o.metricsExtra);
  }

  /**
   * Leaves rotation first — healthz answers 503 for leaveDnsMs, long enough for every DNS
   * server to drop this gateway, while requests are still served (each answered with
   * Connection: close) — then takes no new connections and lets the requests in progress
   * finish within the grace period. `fast` skips the DNS wait (Ctrl-C; or the whole planet
   * stops); it also cuts short the wait of a stop already in progress.
   */
  stop(options: { fast?: boolean } = {}): Promise<void> {
    if (options.fast) this.#cutLeave?.();
    if (!this.#started) return Promise.resolve();
    this.#stopping ??= this.#stop(options.fast ?? false);
    return this.#stopping;
  }

  async #stop(fast: boolean): Promise<void> {
    this.shuttingDown = true;
    const leaveMs = fast ? 0 : (this.#o.leaveDnsMs ?? leaveDnsMsDefault);
    if (leaveMs > 0) {
      this.log.info("stopping: healthz answers 503 so DNS drops this gateway first", { leaveMs });
      await new Promise<void>((resolve) => {
        const timer = this.clock.setTimer(leaveMs, resolve);
        this.#cutLeave = () => {
          timer.cancel();
          resolve();
        };
      });
      this.#cutLeave = undefined;
    }
    // The timeout sweep ran through the leave phase; from here the drain loop below rules.
    this.#stopped = true;
    this.#sweep?.cancel();
    const server = this.#server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of this.#conns) c.closeIfIdle();
    const graceMs = this.#o.shutdownGraceMs ?? shutdownGraceMsDefault;
    const deadline = this.clock.monoMs() + graceMs;
    while (this.#conns.size > 0 && this.clock.monoMs() < deadline) {
      await new Promise<void>((resolve) => this.clock.setTimer(timeoutSweepIntervalMs, resolve));
      for (const c of this.#conns) c.closeIfIdle();
    }
    for (const c of this.#conns) c.destroy();
    await closed;
    this.#checker.stop();
    this.#peerChecker.stop();
    this.#unsubscribe?.();
    for (const t of this.local.targets) t.pool.closeIdle();
    for (const b of this.remote) for (const t of b.targets) t.pool.closeIdle();
    await this.#source.stop();
    await Promise.all(this.#closers.map((c) => c()));
  }
}
