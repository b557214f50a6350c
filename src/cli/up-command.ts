// `redshirt up [--planet FILE]`: brings the planet up on this machine and keeps it up until
// Ctrl-C or SIGTERM, which stop every process it started. A second `up` while one runs
// says so and exits non-zero (a lock file with the running pid).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PlanetRunner } from "../cattle/index.ts";
import { loadPlanetSecret } from "../core/index.ts";
import { loadPlanet, type Planet, sitesByDistance } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the lock for this planet's data directory, or throws naming the pid that holds it. */
function takeLock(file: string): () => void {
  mkdirSync(dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(readFileSync(file, "utf8"));
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
        throw cliErrors.create(
          "RS_ERR_CLI_ALREADY_UP",
          `pid ${pid} holds ${file}; stop it first (Ctrl-C there, or kill ${pid})`,
        );
      }
      rmSync(file, { force: true }); // stale: its owner died without cleaning up
    }
  }
  throw cliErrors.create("RS_ERR_CLI_ALREADY_UP", file);
}

export function summaryTable(planet: Planet): string {
  const lines: string[] = [];
  const service = `${planet.services[0]}.${planet.zone}`;
  lines.push("");
  lines.push(`planet ${planet.name} is up — ${planet.sites.length} sites, zone ${planet.zone}`);
  lines.push("");
  lines.push(`  ${"site".padEnd(6)} ${"city".padEnd(14)} ${"gateway".padEnd(26)} ${"dns".padEnd(20)} store nodes`);
  for (const s of planet.sites) {
    const gw = planet.gateways.find((g) => g.site === s.name);
    const dns = planet.dnsServers.find((d) => d.site === s.name);
    const stores = planet.storeNodes.filter((n) => n.site === s.name).map((n) => n.host);
    lines.push(
      `  ${s.name.padEnd(6)} ${s.city.padEnd(14)} ${(gw ? `http://${gw.host}:${gw.port}/` : "-").padEnd(26)} ${(dns ? `${dns.host}:${dns.port}` : "-").padEnd(20)} ${stores.join(" ")}`,
    );
  }
  const firstGw = planet.gateways[0];
  const firstDns = planet.dnsServers[0];
  lines.push("");
  lines.push("try:");
  if (firstGw) lines.push(`  curl http://${firstGw.host}:${firstGw.port}/`);
  if (firstDns) {
    const client = planet.clients[0];
    const subnet = client ? ` +subnet=${client.cidr}` : "";
    lines.push(`  dig @${firstDns.host} -p ${firstDns.port} ${service}${subnet} +short`);
    if (client) {
      const order = sitesByDistance(planet, client).map((s) => s.name);
      lines.push(`    (a client in ${client.name} gets ${order.join(", ")} in that order)`);
    }
  }
  lines.push(`  ./bin/redshirt kv get hello:visits --planet <planet file>`);
  lines.push("");
  lines.push("Ctrl-C stops every process.");
  return lines.join("\n");
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("up", args, { planet: { type: "string", default: "examples/planet.yaml" } });
  const planetFile = resolve(values.planet);
  const planet = loadPlanet(planetFile);
  const dataDir = resolve(planet.baseDir, planet.store.dataDir);
  // Made on the first up; every store node reads it at start (and refuses to start without it).
  loadPlanetSecret(dataDir, { create: true });
  const release = takeLock(resolve(dataDir, "up.lock"));
  // Every process reads the planet secret (the WAN admin endpoints and, later, the control
  // API and node-to-node auth take tokens derived from it): it exists before any starts.
  try {
    loadPlanetSecret(dataDir, { create: true });
  } catch (err) {
    release();
    throw err;
  }
  const started = performance.now();
  const runner = new PlanetRunner({
    planet,
    planetFile,
    onProgress: (line) => console.log(line),
    onExit: (p, how) =>
      console.log(`! ${p.role} ${p.id} ${how} — not restarted (replacing dead instances is the supervisor's job)`),
  });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    console.log(`\n${signal}: stopping every process…`);
    stopping = runner.stop().finally(() => {
      release();
      console.log("stopped.");
      process.exit(0);
    });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  try {
    await runner.start();
  } catch (err) {
    release();
    if (stopping) return 0;
    console.error(`redshirt up: startup failed, every process stopped: ${(err as Error).message}`);
    return 1;
  }
  console.log(summaryTable(planet));
  console.log(`(up in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  // Keep running until a signal arrives.
  await new Promise<never>(() => {
    setInterval(() => {}, 1 << 30);
  });
  return 0;
}
