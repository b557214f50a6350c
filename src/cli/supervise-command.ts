// `redshirt supervise --planet FILE --site NAME [--app FILE] [--app-version V]`: runs a
// site's supervisor (normally started by `redshirt up`, detached). It keeps every tier of
// the site at its desired count and serves the control API on the site's supervisor
// address. SIGTERM ends it and leaves the instances running; `redshirt down` stops all.
import { resolve } from "node:path";
import { runSupervisor } from "../cattle/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("supervise", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    app: { type: "string" },
    "app-version": { type: "string" },
    "ready-timeout-ms": { type: "string" },
    "drain-wait-ms": { type: "string" },
    "stop-grace-ms": { type: "string" },
  });
  if (positionals.length > 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `supervise: takes no arguments (got ${JSON.stringify(positionals[0])})`);
  }
  if (!values.site) throw cliErrors.create("RS_ERR_CLI_USAGE", "supervise: --site NAME is required");
  const ms = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^\d{1,9}$/.test(text))
      throw cliErrors.create("RS_ERR_CLI_USAGE", `supervise: --${name} must be a whole number`);
    return Number(text);
  };
  const planetFile = resolve(values.planet);
  const code = await runSupervisor({
    planet: loadPlanet(planetFile),
    planetFile,
    site: values.site,
    app: {
      ...(values.app ? { entry: resolve(values.app) } : {}),
      ...(values["app-version"] ? { version: values["app-version"] } : {}),
    },
    readyTimeoutMs: ms("ready-timeout-ms", values["ready-timeout-ms"]),
    drainWaitMs: ms("drain-wait-ms", values["drain-wait-ms"]),
    stopGraceMs: ms("stop-grace-ms", values["stop-grace-ms"]),
  });
  // Store-client sockets and timers must not keep a finished supervisor alive.
  process.exit(code);
}
