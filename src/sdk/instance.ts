// An app instance's life as the platform needs it: it registers itself (a lease in its
// site's registry, renewed by heartbeats), shows as ready once it listens, and on SIGTERM
// drains — marks its lease draining, keeps serving while every gateway notices, stops
// accepting, lets the requests in flight finish, removes its lease and exits. So the same
// app works whether our supervisor, Kubernetes or systemd starts it: the identity comes
// from environment variables (or options), and the lease is the instance's own.
import { randomUUID } from "node:crypto";
import type { Server } from "node:http";
import { isInstanceId, LeaseHolder, type LeaseTier, type RegistryStore } from "../cattle/index.ts";
import { type Clock, createLogger, type Logger, systemClock } from "../core/index.ts";
import { createStoreClient } from "../store/index.ts";
import { loadPlanet, type Planet, siteByName } from "../topology/index.ts";
import {
  drainNoticeMsDefault,
  drainTimeoutMsDefault,
  envNames,
  hostDefault,
  planetFileDefault,
  versionDefault,
} from "./constants.ts";
import { sdkErrors } from "./errors.ts";

export type StartInstanceOptions = {
  /** The app's HTTP server, not listening yet: startInstance listens and counts its requests. */
  readonly server: Server;
  /** The planet, or its file (default $REDSHIRT_PLANET, else examples/planet.yaml). */
  readonly planet?: Planet | string;
  readonly site?: string;
  /** Default $REDSHIRT_INSTANCE_ID, else `<site>-<tier>-<random>` (a fresh identity per start). */
  readonly id?: string;
  readonly tier?: LeaseTier;
  readonly host?: string;
  /** 0 picks a free port; the lease carries the port bound. */
  readonly port?: number;
  readonly version?: string;
  /**
   * Runs after the server listens and before the instance is marked ready (the lease says
   * "starting" meanwhile, so it gets no traffic): warm caches, check the store. A throw
   * stops the instance (its lease is removed) and rejects startInstance.
   */
  readonly ready?: () => Promise<void>;
  /** Where the lease is written (default: a store client of the site). */
  readonly store?: RegistryStore & { close?(): Promise<void> };
  readonly heartbeatMs?: number;
  readonly drainNoticeMs?: number;
  readonly drainTimeoutMs?: number;
  /** Drain and exit on SIGTERM and SIGINT (default true). */
  readonly handleSignals?: boolean;
  /** Called with the exit code once a signal-driven drain finished (default process.exit). */
  readonly exit?: (code: number) => void;
  readonly env?: NodeJS.ProcessEnv;
  readonly clock?: Clock;
  readonly log?: Logger;
};

export type Instance = {
  readonly id: string;
  readonly site: string;
  readonly planet: Planet;
  readonly version: string;
  readonly host: string;
  readonly port: number;
  readonly lease: LeaseHolder;
  /** True from the start of a drain: answer 503 on /healthz so gateways' checks agree. */
  readonly draining: boolean;
  /** Requests being handled now. */
  readonly inFlight: number;
  /** The lease metrics (Prometheus text), for the app to serve. */
  metricsText(): string;
  /** Drains as on SIGTERM (without exiting); idempotent. */
  stop(): Promise<void>;
};

function fail(field: string, why: string): never {
  throw sdkErrors.create("RS_ERR_SDK_CONFIG", `${field}: ${why}`);
}

function resolvePlanet(option: Planet | string | undefined, env: NodeJS.ProcessEnv): Planet {
  if (option !== undefined && typeof option !== "string") return option;
  const file = option ?? env[envNames.planet] ?? planetFileDefault;
  try {
    return loadPlanet(file);
  } catch (cause) {
    throw sdkErrors.create("RS_ERR_SDK_CONFIG", `${envNames.planet}: cannot load ${file}`, { cause });
  }
}

function resolvePort(option: number | undefined, env: NodeJS.ProcessEnv): number {
  const text = option !== undefined ? String(option) : env[envNames.port];
  if (text === undefined) fail(envNames.port, "not set (the port to listen on; 0 picks one)");
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65_535) fail(envNames.port, `${JSON.stringify(text)} is not a port`);
  return Number(text);
}

/** Registers the instance, listens, marks it ready; on SIGTERM drains and exits. */
export async function startInstance(options: StartInstanceOptions): Promise<Instance> {
  const env = options.env ?? process.env;
  const planet = resolvePlanet(options.planet, env);
  const site = options.site ?? env[envNames.site];
  if (!site) fail(envNames.site, "not set (the site this instance runs in)");
  if (!siteByName(planet, site)) {
    fail(
      envNames.site,
      `no site ${JSON.stringify(site)} in planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  const tier = options.tier ?? "app";
  const id = options.id ?? env[envNames.instanceId] ?? `${site}-${tier}-${randomUUID().slice(0, 8)}`;
  if (!isInstanceId(id)) fail(envNames.instanceId, `${JSON.stringify(id)}: use 1-128 of [A-Za-z0-9._-]`);
  const host = options.host ?? env[envNames.host] ?? hostDefault;
  const portAsked = resolvePort(options.port, env);
  const version = options.version ?? env[envNames.version] ?? versionDefault;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? createLogger({ part: "sdk", instance: id, site });
  const ownStore = options.store === undefined;
  const store = options.store ?? createStoreClient({ planet, site });
  const server = options.server;

  let inFlight = 0;
  const idle: Array<() => void> = [];
  server.on("request", (_req, res) => {
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (inFlight === 0) for (const fn of idle.splice(0)) fn();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", (cause) => reject(sdkErrors.create("RS_ERR_SDK_LISTEN", `${host}:${portAsked}`, { cause })));
    server.listen(portAsked, host, () => {
      server.removeAllListeners("error");
      server.on("error", (err) => log.error("server error", { err }));
      resolve();
    });
  });
  const bound = server.address();
  const port = typeof bound === "object" && bound !== null ? bound.port : portAsked;
  const lease = new LeaseHolder(
    { id, site, tier, host, port, version, pid: process.pid, heartbeatMs: options.heartbeatMs },
    { store, clock, log },
  );
  // Registered once listening (so the lease carries the port bound), as "starting": health
  // checks may begin, traffic waits for "ready".
  await lease.start();
  if (!lease.lastWriteOk) log.warn("registered while the store is unreachable; heartbeats keep trying");
  if (options.ready) {
    try {
      await options.ready();
    } catch (err) {
      log.error("readiness failed; deregistering", { err });
      await lease.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (ownStore) await (store as { close(): Promise<void> }).close();
      throw err;
    }
  }
  await lease.setState("ready");

  let draining = false;
  let stopping: Promise<void> | undefined;
  const sleep = (ms: number) => new Promise<void>((resolve) => clock.setTimer(ms, resolve));
  const drain = async (): Promise<void> => {
    draining = true;
    const noticeMs = options.drainNoticeMs ?? drainNoticeMsDefault;
    log.info("draining: out of rotation first", { noticeMs, inFlight });
    await lease.setState("draining");
    await sleep(noticeMs);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    if (inFlight > 0) {
      const timeoutMs = options.drainTimeoutMs ?? drainTimeoutMsDefault;
      await Promise.race([new Promise<void>((resolve) => idle.push(resolve)), sleep(timeoutMs)]);
      if (inFlight > 0) log.warn("drain timeout: cutting requests still in flight", { inFlight, timeoutMs });
    }
    server.closeAllConnections();
    await closed;
    await lease.stop();
    if (ownStore) await (store as { close(): Promise<void> }).close();
    log.info("drained and deregistered");
  };
  const stop = (): Promise<void> => {
    stopping ??= drain();
    return stopping;
  };

  if (options.handleSignals ?? true) {
    const exit = options.exit ?? ((code: number) => process.exit(code));
    const onSignal = (signal: string): void => {
      log.info("signal: draining", { signal });
      stop().then(
        () => exit(0),
        (err) => {
          log.error("drain failed", { err });
          exit(1);
        },
      );
    };
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    process.once("SIGINT", () => onSignal("SIGINT"));
  }

  return {
    id,
    site,
    planet,
    version,
    host,
    port,
    lease,
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
    metricsText: () => lease.metrics.render(),
    stop,
  };
}
