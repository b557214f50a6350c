// `redshirt gateway --planet FILE --site NAME [--index K]`: runs one site gateway on its
// address from the planet's address plan. It finds its site's app instances in the
// registry (leases in the site's store) and registers itself there too; `--static-backends`
// uses the planet's address plan instead, for runs without a store (tests, benchmarks).
// Prints one ready line; SIGTERM stops gracefully (healthz 503 until DNS dropped it, then
// no new connections, then in-flight requests finish); SIGINT skips the DNS wait.

import { resolve } from "node:path";
import { LeaseHolder, RegistryInstanceSource, RegistryMetrics, RegistryWatcher } from "../cattle/index.ts";
import { createLogger, loadPlanetSecret, systemClock } from "../core/index.ts";
import { createStoreClient } from "../store/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { Gateway, gatewayErrors, type InstanceSource, PlanetInstanceSource } from "../traffic/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

function positiveInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw cliErrors.create("RS_ERR_CLI_USAGE", `gateway: --${name} must be a whole number`);
  return Number(text);
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("gateway", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    index: { type: "string", default: "1" },
    listen: { type: "string" },
    "no-failover": { type: "boolean", default: false },
    "static-backends": { type: "boolean", default: false },
    "health-interval-ms": { type: "string" },
    "health-timeout-ms": { type: "string" },
    "connect-timeout-ms": { type: "string" },
    "per-try-timeout-ms": { type: "string" },
    "request-timeout-ms": { type: "string" },
    "slow-start-ms": { type: "string" },
    "leave-dns-ms": { type: "string" },
  });
  if (!values.site) throw cliErrors.create("RS_ERR_CLI_USAGE", "gateway: --site NAME is required");
  let listen: { host: string; port: number } | undefined;
  if (values.listen) {
    const m = /^([^:]+):(\d+)$/.exec(values.listen);
    if (!m) throw cliErrors.create("RS_ERR_CLI_USAGE", "gateway: --listen must be HOST:PORT");
    listen = { host: m[1], port: Number(m[2]) };
  }
  const planet = loadPlanet(values.planet);
  const index = positiveInt("index", values.index) ?? 1;
  const log = createLogger({ part: "traffic", role: "gateway", site: values.site, index });
  const timeouts = {
    ...(values["connect-timeout-ms"] && {
      connectTimeoutMs: positiveInt("connect-timeout-ms", values["connect-timeout-ms"]),
    }),
    ...(values["per-try-timeout-ms"] && {
      perTryTimeoutMs: positiveInt("per-try-timeout-ms", values["per-try-timeout-ms"]),
    }),
    ...(values["request-timeout-ms"] && {
      requestTimeoutMs: positiveInt("request-timeout-ms", values["request-timeout-ms"]),
    }),
  };
  const site = values.site;
  // The planet secret authenticates RS-Hop between the sites' gateways. A one-site planet
  // has no peers, so it may run without one (a bench, a test); with peers it is required.
  let secret: Buffer | undefined;
  try {
    secret = loadPlanetSecret(resolve(planet.baseDir, planet.store.dataDir));
  } catch (cause) {
    if (planet.sites.length > 1) throw gatewayErrors.create("RS_ERR_TRAFFIC_GATEWAY_NO_SECRET", undefined, { cause });
  }
  const store = values["static-backends"] ? undefined : createStoreClient({ planet, site });
  const registryMetrics = new RegistryMetrics();
  let source: InstanceSource;
  if (store) {
    const watcher = new RegistryWatcher({ site }, { store, clock: systemClock, log, metrics: registryMetrics });
    source = new RegistryInstanceSource(watcher);
  } else {
    source = new PlanetInstanceSource(planet, site);
  }
  const gateway = new Gateway({
    planet,
    site,
    index,
    listen,
    log,
    source,
    failover: !values["no-failover"],
    healthIntervalMs: positiveInt("health-interval-ms", values["health-interval-ms"]),
    healthTimeoutMs: positiveInt("health-timeout-ms", values["health-timeout-ms"]),
    slowStartMs: positiveInt("slow-start-ms", values["slow-start-ms"]),
    leaveDnsMs: positiveInt("leave-dns-ms", values["leave-dns-ms"]),
    timeouts,
    secret,
    metricsExtra: () => registryMetrics.render(),
  });
  await gateway.start();
  // The gateway holds its own lease too, so a supervisor or `status` finds it like any instance.
  const lease = store
    ? new LeaseHolder(
        {
          id: gateway.name,
          site,
          tier: "gateway",
          host: gateway.listenHost,
          port: gateway.port,
          version: process.env.REDSHIRT_VERSION ?? "0",
          pid: process.pid,
          initialState: "ready",
        },
        { store, clock: systemClock, log, metrics: registryMetrics },
      )
    : undefined;
  await lease?.start();
  const b = gateway.backends();
  console.log(
    JSON.stringify({
      event: "ready",
      role: "gateway",
      site: gateway.site,
      gateway: gateway.name,
      host: gateway.listenHost,
      port: gateway.port,
      backends: store ? "registry" : "static",
      healthyInstances: gateway.health().healthyInstances,
      instances: b.backends.map((i) => i.id),
    }),
  );
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info("stopping", { signal });
  // A second signal during the DNS wait (or Ctrl-C) cuts it short.
  const fast = (): void => void gateway.stop({ fast: true });
  process.once("SIGINT", fast);
  process.once("SIGTERM", fast);
  await lease?.setState("draining");
  await gateway.stop({ fast: signal === "SIGINT" });
  await lease?.stop();
  await store?.close();
  return 0;
}
