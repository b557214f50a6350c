// `redshirt up [--planet FILE] [--app FILE]`: creates the planet secret if missing, starts
// one supervisor per site (detached: the planet keeps serving if `up` dies), waits until
// every site is ready while showing each instance, prints the table, and stays in the
// foreground reporting replacements. Ctrl-C or SIGTERM stop every supervisor and every
// instance and wait until no process is left. A second `up` while one runs says so and
// exits non-zero (a lock file with the running pid); an `up` after one was SIGKILLed adopts
// the supervisors still running.
// `up --site NAME` (repeatable) runs only those sites, on the addresses the planet file
// gives them: the way to run a planet on many hosts (or one network namespace per site),
// one `up --site` per host, every host with the same planet file and planet secret. Each
// site has its own lock, so two hosts sharing a data directory never refuse each other.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { PlanetRunner, planetDataDir } from "../cattle/index.ts";
import { loadPlanetSecret } from "../core/index.ts";
import { dashboardConstants, parseAction, type RunningDashboard, startDashboard } from "../dashboard/index.ts";
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
          `pid ${pid} holds ${file}; stop it first (Ctrl-C there, or \`redshirt down\`)`,
        );
      }
      rmSync(file, { force: true }); // stale: its owner died without cleaning up
    }
  }
  throw cliErrors.create("RS_ERR_CLI_ALREADY_UP", file);
}

export function summaryTable(
  planet: Planet,
  planetFile = "<planet file>",
  only?: readonly string[],
  dashboard?: RunningDashboard,
): string {
  const lines: string[] = [];
  const service = `${planet.services[0]}.${planet.zone}`;
  const sites = only ? planet.sites.filter((s) => only.includes(s.name)) : planet.sites;
  lines.push("");
  lines.push(
    only
      ? `planet ${planet.name}: site ${sites.map((s) => s.name).join(", ")} is up (of ${planet.sites.length} sites), zone ${planet.zone}`
      : `planet ${planet.name} is up — ${planet.sites.length} sites, zone ${planet.zone}`,
  );
  lines.push("");
  lines.push(
    `  ${"site".padEnd(6)} ${"city".padEnd(14)} ${"gateway".padEnd(26)} ${"dns".padEnd(20)} ${"control".padEnd(26)} store nodes`,
  );
  for (const s of sites) {
    const gw = planet.gateways.find((g) => g.site === s.name);
    const dns = planet.dnsServers.find((d) => d.site === s.name);
    const sup = planet.supervisors.find((x) => x.site === s.name);
    const stores = planet.storeNodes.filter((n) => n.site === s.name).map((n) => n.host);
    lines.push(
      `  ${s.name.padEnd(6)} ${s.city.padEnd(14)} ${(gw ? `http://${gw.host}:${gw.port}/` : "-").padEnd(26)} ${(dns ? `${dns.host}:${dns.port}` : "-").padEnd(20)} ${(sup ? `http://${sup.host}:${sup.port}/` : "-").padEnd(26)} ${stores.join(" ")}`,
    );
  }
  if (dashboard) {
    lines.push("");
    lines.push(`dashboard: ${dashboard.operatorUrl}`);
    lines.push(`  (the link carries the control token; ${dashboard.url} alone is read-only)`);
  }
  const firstGw = planet.gateways.find((g) => sites.some((s) => s.name === g.site));
  const firstDns = planet.dnsServers.find((d) => sites.some((s) => s.name === d.site));
  lines.push("");
  lines.push("try:");
  if (firstGw) {
    // The shop (the default app) answers JSON under /api; a browser gets its pages at /.
    lines.push(
      `  curl http://${firstGw.host}:${firstGw.port}/api/catalogue     (the shop: open / in a browser, docs/shop.md)`,
    );
  }
  if (firstDns) {
    const client = planet.clients[0];
    const subnet = client ? ` +subnet=${client.cidr}` : "";
    lines.push(`  dig @${firstDns.host} -p ${firstDns.port} ${service}${subnet} +short`);
    if (client) {
      const listed = 1 + (planet.serviceOptions[planet.services[0]]?.fallbackSites ?? 0);
      const order = sitesByDistance(planet, client)
        .slice(0, listed)
        .map((s) => s.name);
      lines.push(`    (a client in ${client.name} gets the gateways of ${order.join(", then ")})`);
    }
  }
  lines.push(`  ./bin/redshirt status --planet ${planetFile}        (kill -9 any instance: it is replaced)`);
  lines.push(`  ./bin/redshirt scale ${planet.sites[0].name} app 4 --planet ${planetFile}`);
  lines.push("");
  lines.push("Ctrl-C stops every process. If this terminal dies the planet keeps running; `redshirt down` stops it.");
  return lines.join("\n");
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("up", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    app: { type: "string" },
    "app-version": { type: "string" },
    site: { type: "string", multiple: true },
    users: { type: "string", default: "0" },
  });
  const usersPerRegion = Number(values.users);
  if (
    !Number.isInteger(usersPerRegion) ||
    usersPerRegion < 0 ||
    usersPerRegion > dashboardConstants.usersPerRegionMax
  ) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `up: --users: virtual users per client region, 0 to ${dashboardConstants.usersPerRegionMax} (got ${JSON.stringify(values.users)})`,
    );
  }
  const planetFile = resolve(values.planet);
  const planet = loadPlanet(planetFile);
  const only = values.site && values.site.length > 0 ? [...new Set(values.site)] : undefined;
  for (const name of only ?? []) {
    if (!planet.sites.some((s) => s.name === name)) {
      throw cliErrors.create(
        "RS_ERR_CLI_USAGE",
        `up: --site ${JSON.stringify(name)} is not a site of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
      );
    }
  }
  const dataDir = planetDataDir(planet);
  const release = takeLock(resolve(dataDir, only ? `up-${only.join("+")}.lock` : "up.lock"));
  let secret: Buffer;
  try {
    // Every process reads the planet secret (control API tokens, and later node-to-node
    // auth): it exists before any of them starts.
    secret = loadPlanetSecret(dataDir, { create: true });
  } catch (err) {
    release();
    throw err;
  }
  const started = performance.now();
  const runner = new PlanetRunner({
    planet,
    planetFile,
    secret,
    appEntry: values.app ? resolve(values.app) : undefined,
    appVersion: values["app-version"],
    sites: only,
    onProgress: (line) => console.log(line),
  });
  // The dashboard shows the whole planet, so it runs with `up` of every site (not `--site`),
  // from before the first supervisor starts: the page shows the planet coming up.
  let dashboard: RunningDashboard | undefined;
  if (!only) {
    try {
      dashboard = await startDashboard({ planet, secret });
    } catch (err) {
      console.error(
        `redshirt up: the dashboard did not start (the planet comes up without it): ${(err as Error).message}`,
      );
    }
  }
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    console.log(`\n${signal}: stopping every process…`);
    stopping = (dashboard?.stop() ?? Promise.resolve())
      .then(() => runner.stop())
      .then((outcomes) => {
        const left = outcomes.flatMap((o) => o.left);
        const n = outcomes.reduce((k, o) => k + o.processes, 0);
        console.log(left.length === 0 ? `stopped (${n} processes).` : `stopped, but pids ${left.join(" ")} are left`);
        release();
        process.exit(left.length === 0 ? 0 : 1);
      })
      .catch((err) => {
        console.error(`redshirt up: stopping failed: ${(err as Error).message}`);
        release();
        process.exit(1);
      });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  try {
    await runner.start();
  } catch (err) {
    if (stopping) return await new Promise<number>(() => {});
    stopping = Promise.resolve();
    console.error(`redshirt up: startup failed: ${(err as Error).message}`);
    await dashboard?.stop();
    const outcomes = await runner.stop();
    const left = outcomes.flatMap((o) => o.left);
    console.error(
      left.length === 0
        ? "redshirt up: startup failed, every process stopped"
        : `redshirt up: pids left: ${left.join(" ")}`,
    );
    release();
    return 1;
  }
  if (stopping) return await new Promise<number>(() => {});
  console.log(summaryTable(planet, values.planet, only, dashboard));
  if (dashboard && usersPerRegion > 0) {
    await dashboard.run(parseAction(planet, "users-start", { usersPerRegion }));
    console.log(`virtual users: ${usersPerRegion} per client region (stop or start them on the dashboard)`);
  }
  console.log(`(up in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  await runner.watch();
  if (stopping) return await new Promise<number>(() => {});
  await dashboard?.stop();
  release();
  return 0;
}
