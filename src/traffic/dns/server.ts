// One GSLB DNS server: the zone and the ranker answering queries on UDP and TCP, the
// health monitor probing gateways and reading peers, the site weights, and the admin
// endpoint. A factory takes the options and the injected components apart, as every
// long-lived thing here does; `start()` is ready to answer with real health, not guesses.
import type { Clock, Logger, Random, Startable } from "../../core/index.ts";
import { dnsAdminOf, type NodeInfo, type Planet } from "../../topology/index.ts";
import { AdminServer } from "./admin.ts";
import { adminPortOffset } from "./constants.ts";
import { dnsErrors } from "./errors.ts";
import { type FetchViewFn, HealthMonitor, type ProbeFn } from "./health.ts";
import { DnsListeners } from "./listeners.ts";
import { buildLocator } from "./locate.ts";
import { type AnswerState, type HandleContext, handleQuery } from "./message.ts";
import { createDnsMetrics, type DnsMetrics } from "./metrics.ts";
import { Ranker } from "./ranking.ts";
import { ResponseCache } from "./response-cache.ts";
import { ResponseRateLimiter } from "./rrl.ts";
import { type WeightConfig, WeightStore } from "./weights.ts";
import { dnsDataDir, readWeightsFile, writeWeightsFile } from "./weights-file.ts";
import { buildZone } from "./zone.ts";

export type DnsServerOptions = {
  readonly planet: Planet;
  readonly site: string;
  /** 1-based index of the DNS server within its site. */
  readonly index: number;
  /** Override the DNS port (tests); default the planet's, and the admin port is it + 1. */
  readonly port?: number;
  readonly adminPort?: number;
  /** The planet secret: weight writes on the admin endpoint need its control token. */
  readonly secret: Buffer;
  /** The planet's data directory: weights persist in `<dataDir>/dns/<id>/weights.json`. Omitted: memory only. */
  readonly dataDir?: string;
  /** Override the admin endpoint's address (tests); default the server's management address (.7.k). */
  readonly adminHost?: string;
};

export type DnsServerComponents = {
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly probe: ProbeFn;
  readonly fetchView: FetchViewFn;
};

export type DnsServer = Startable & {
  readonly self: NodeInfo;
  readonly metrics: DnsMetrics;
  /** The port answering DNS (UDP and TCP) once started. */
  readonly port: number;
  readonly adminPort: number;
  /** The admin endpoint's address (the management address .7.k unless overridden). */
  readonly adminHost: string;
  /** Handles one message as the sockets do (for tests and the fuzzer). */
  handle(buf: Buffer, ctx: HandleContext): Buffer | undefined;
  health(): HealthMonitor;
};

export function dnsServerFor(planet: Planet, site: string, index: number): NodeInfo {
  const self = planet.dnsServers.find((d) => d.site === site && d.index === index);
  if (!self) {
    const known = planet.dnsServers.map((d) => `${d.site}#${d.index}`).join(", ") || "none";
    throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_NO_SERVER", `site ${site} index ${index} (known: ${known})`);
  }
  return self;
}

export function createDnsServer(options: DnsServerOptions, components: DnsServerComponents): DnsServer {
  const { planet } = options;
  const self = dnsServerFor(planet, options.site, options.index);
  // Peers find each other's admin endpoint at the planet's DNS port + 1, so the port must
  // be a fixed number with room above it.
  if (options.port === undefined && (self.port === 0 || self.port + adminPortOffset > 65_535)) {
    throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_LISTEN", `the planet's ports.dns must be 1..65534, not ${self.port}`);
  }
  const logger = components.logger;
  const metrics = createDnsMetrics();
  const adminNode = dnsAdminOf(planet, self);
  const weightsDir = options.dataDir === undefined ? undefined : dnsDataDir(options.dataDir, self.id);
  const zone = buildZone(planet);
  const ranker = new Ranker(planet, buildLocator(planet));
  const weights = new WeightStore(
    planet.sites.map((s) => s.name),
    self.id,
    components.clock,
  );
  let persisted: WeightConfig = weights.config;
  // Every change of the weights, set here or adopted from a peer, is written before the
  // next answer reflects it; a failed write is counted and logged, and the server keeps
  // answering from memory (its peers still hold the weights).
  const persist = (): void => {
    if (!weightsDir || weights.config === persisted) return;
    try {
      writeWeightsFile(weightsDir, weights.config);
      persisted = weights.config;
    } catch (err) {
      metrics.weightsFileErrors.inc({ op: "write" });
      logger.error("cannot write the weights file", { err, dir: weightsDir });
    }
  };
  const refresh = (): void => {
    persist();
    ranker.update(monitor.siteHealth(), weights.config.weights);
  };
  const monitor = new HealthMonitor(
    {
      clock: components.clock,
      random: components.random,
      probe: components.probe,
      fetchView: components.fetchView,
      logger,
      metrics,
    },
    { planet, self, weights, onChange: refresh },
  );
  const state: AnswerState = { zone, ranker };
  const cache = planet.dns.responseCache ? new ResponseCache() : undefined;
  let sampled = 0;
  const handle = (buf: Buffer, ctx: HandleContext): Buffer | undefined => {
    const timed = (sampled++ & 63) === 0;
    const t0 = timed ? performance.now() : 0;
    try {
      const generation = ranker.generation;
      let r = cache?.get(buf, ctx, generation);
      if (cache) metrics.responseCache.add(r ? "hit" : "miss");
      if (!r) {
        r = handleQuery(buf, ctx, state);
        cache?.put(buf, ctx, generation, r);
      }
      metrics.queries.add(`${ctx.transport}|${r.qtype}|${r.rcode}`);
      if (r.firstSite) metrics.answers.add(r.firstSite);
      if (r.truncated) metrics.truncated.inc();
      if (timed) metrics.handleMs.observe(performance.now() - t0);
      return r.response;
    } catch (err) {
      // handleQuery is built never to throw (the fuzzer holds it to that); if it does, the
      // query is dropped and counted rather than the server taken down for every client.
      logger.error("query handler failed", { err });
      metrics.queries.add(`${ctx.transport}|NONE|INTERNAL`);
      return undefined;
    }
  };
  const listeners = new DnsListeners({
    host: self.host,
    port: options.port ?? self.port,
    handle,
    logger,
    metrics,
    rrl: new ResponseRateLimiter(planet.dns.rrl),
    nowMs: () => components.clock.monoMs(),
    tcpConnectionsPerSource: planet.dns.tcpConnectionsPerSource,
  });
  const siteNames = planet.sites.map((s) => s.name);
  metrics.siteUp.collect(() =>
    siteNames.map((s) => [{ site: s }, (monitor.siteHealth().get(s)?.upHosts.length ?? 0) > 0 ? 1 : 0]),
  );
  metrics.siteProbeUp.collect(() => siteNames.map((s) => [{ site: s }, monitor.ownSiteUp(s) ? 1 : 0]));
  metrics.siteWeight.collect(() => siteNames.map((s) => [{ site: s }, ranker.weightOf(s)]));
  metrics.peerFresh.collect(() => monitor.peerFreshness().map(([peer, fresh]) => [{ peer }, fresh ? 1 : 0]));
  const status = () => {
    const consensus = monitor.consensus();
    const own = monitor.ownView().gateways;
    const health = monitor.siteHealth();
    return {
      server: self.id,
      sites: planet.sites.map((s) => ({
        name: s.name,
        up: (health.get(s.name)?.upHosts.length ?? 0) > 0,
        probeUp: monitor.ownSiteUp(s.name),
        weight: ranker.weightOf(s.name),
        gateways: planet.gateways
          .filter((g) => g.site === s.name)
          .map((g) => ({ id: g.id, host: g.host, own: own[g.id] ?? "unknown", ...consensus.get(g.id) })),
      })),
      peers: monitor.peerFreshness().map(([id, fresh]) => ({ id, fresh })),
      weights: weights.config,
    };
  };
  const admin = new AdminServer({
    host: options.adminHost ?? adminNode.host,
    port: options.adminPort ?? self.port + adminPortOffset,
    logger,
    secret: options.secret,
    routes: {
      metrics: () => metrics.render(),
      view: () => monitor.ownView(),
      status,
      weights: () => weights.config,
      setWeights: (body) => {
        const config = weights.setFromBody(body);
        logger.info("site weights set", { weights: config.weights, version: config.version });
        refresh();
        return config;
      },
      setSiteWeight: (site, body) => {
        const config = weights.setSiteFromBody(site, body);
        logger.info("site weight set", { site, weight: config.entries[site]?.weight, version: config.version });
        refresh();
        return config;
      },
      unauthorized: () => metrics.adminUnauthorized.inc(),
      refused: (reason) => metrics.adminRefused.inc({ reason }),
    },
  });
  let started = false;
  return {
    self,
    metrics,
    get port() {
      return listeners.port;
    },
    get adminPort() {
      return admin.port;
    },
    adminHost: options.adminHost ?? adminNode.host,
    handle,
    health: () => monitor,
    async start() {
      if (started) return;
      started = true;
      if (weightsDir) {
        // What this server held when it stopped, merged like a peer's view (newest per site
        // wins), before any peer is read or any query answered.
        try {
          const saved = readWeightsFile(weightsDir);
          if (saved && weights.merge(saved))
            logger.info("site weights from the weights file", { weights: saved.weights });
          persisted = weights.config;
        } catch (err) {
          metrics.weightsFileErrors.inc({ op: "read" });
          logger.error("cannot read the weights file; starting from the peers' weights", { err, dir: weightsDir });
        }
      }
      // Peers read our view while we read theirs, so the admin endpoint comes first; DNS
      // answers only once one round of probes and peer reads has happened.
      await admin.start();
      await monitor.start();
      refresh();
      await listeners.start();
    },
    async stop() {
      if (!started) return;
      started = false;
      await listeners.stop();
      await monitor.stop();
      await admin.stop();
    },
  };
}
