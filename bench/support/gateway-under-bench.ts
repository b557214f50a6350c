// What bench/gateway.ts and bench/gateway-alloc.ts both start: a one-site planet file with the
// bench's subnet, the lean HTTP backend, and the command line of a gateway that serves the
// planet's address plan with no store (--static-backends), under the supervisor's node flags.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Launched, launch, nodeBin } from "../../src/core/index.ts";
import { topologyConstants } from "../../src/topology/index.ts";
import { pinned } from "./wrk.ts";

/** Writes the bench's one-site planet (subnet like "127.250") into `dir`; returns its path. */
export function writeBenchPlanet(dir: string, subnet: string): string {
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(
    planetFile,
    `name: bench\nzone: bench.test.\nsites:\n  - { name: bench, city: Bench, lat: 0, lon: 0, subnet: ${subnet}.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 1 } }\n`,
  );
  return planetFile;
}

/** Starts bench/support/http-backend.ts on `core` (pinned when taskset is there). */
export function startBenchBackend(
  core: string,
  at: { host: string; port: number },
  extraArgs: readonly string[] = [],
): Promise<Launched> {
  const [command, args] = pinned(core, nodeBin, [
    "bench/support/http-backend.ts",
    "--host",
    at.host,
    "--port",
    String(at.port),
    ...extraArgs,
  ]);
  return launch({ name: "backend", command, args });
}

/** The gateway's node flags: `--gateway-node-flags` as given ("" for V8's defaults), else the supervisor's. */
export function benchGatewayFlags(given: string | undefined): readonly string[] {
  return given?.split(" ").filter(Boolean) ?? topologyConstants.gatewayNodeFlags;
}

/** The pinned command line of the bench's gateway: its node flags, then `nodeArgs` (e.g. --import), then the CLI. */
export function benchGatewayCommand(
  core: string,
  flags: readonly string[],
  planetFile: string,
  nodeArgs: readonly string[] = [],
): [string, string[]] {
  return pinned(core, nodeBin, [
    ...flags,
    ...nodeArgs,
    "src/cli/main.ts",
    "gateway",
    "--planet",
    planetFile,
    "--site",
    "bench",
    // The bench runs no store: the backend is the planet's address plan.
    "--static-backends",
  ]);
}
