// `redshirt gateway --planet FILE --site NAME [--index K]`: runs one site gateway on its
// address from the planet's address plan, prints one ready line, and stops gracefully on
// SIGTERM (out of rotation first, then in-flight requests finish).
import { createLogger } from "../core/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { Gateway } from "../traffic/index.ts";
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
    "health-interval-ms": { type: "string" },
    "health-timeout-ms": { type: "string" },
    "connect-timeout-ms": { type: "string" },
    "per-try-timeout-ms": { type: "string" },
    "request-timeout-ms": { type: "string" },
    "slow-start-ms": { type: "string" },
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
  const gateway = new Gateway({
    planet,
    site: values.site,
    index,
    listen,
    log,
    failover: !values["no-failover"],
    healthIntervalMs: positiveInt("health-interval-ms", values["health-interval-ms"]),
    healthTimeoutMs: positiveInt("health-timeout-ms", values["health-timeout-ms"]),
    slowStartMs: positiveInt("slow-start-ms", values["slow-start-ms"]),
    timeouts,
  });
  await gateway.start();
  const h = gateway.health();
  console.log(
    JSON.stringify({
      event: "ready",
      role: "gateway",
      site: gateway.site,
      gateway: gateway.name,
      host: gateway.listenHost,
      port: gateway.port,
      healthyInstances: h.healthyInstances,
      instances: h.instances.map((i) => i.id),
    }),
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string): void => {
      log.info("stopping", { signal });
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await gateway.stop();
  return 0;
}
