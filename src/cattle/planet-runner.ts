// Starts every process of a planet on this machine — for each site its store nodes, app
// instances, gateways and DNS servers, each on the site's own loopback subnet — shows
// progress while they come up, and stops them all on stop(), also when startup fails half
// way. App instances get their identity in environment variables and register themselves
// in their site's registry; gateways find them there. This is a convenience, not a brain:
// the planet keeps serving if this process dies (each child is its own process group
// member only of ours while we run).
import { fileURLToPath } from "node:url";
import { type Launched, launch, nodeBin, stopAll } from "../core/index.ts";
import { type Planet, roleAddress } from "../topology/index.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const cliMain = fileURLToPath(new URL("../cli/main.ts", import.meta.url));

export type PlanetProcess = {
  readonly role: "store" | "app" | "gateway" | "dns";
  readonly site: string;
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
};

export type RunnerOptions = {
  readonly planet: Planet;
  readonly planetFile: string;
  /** The app every site runs (a file run with Node); default examples/hello/server.ts. */
  readonly appEntry?: string;
  readonly onProgress?: (line: string) => void;
  /** Called when a started process exits while the planet runs. */
  readonly onExit?: (p: PlanetProcess, how: string) => void;
  readonly readyTimeoutMs?: number;
};

/** Every process a planet runs here, in start order: stores, apps, gateways, DNS. */
export function planetProcesses(planet: Planet, planetFile: string, appEntry: string): PlanetProcess[] {
  const out: PlanetProcess[] = [];
  const common = ["--planet", planetFile];
  for (const n of planet.storeNodes) {
    out.push({
      role: "store",
      site: n.site,
      id: n.id,
      host: n.host,
      port: n.port,
      args: [cliMain, "store", ...common, "--node", n.id],
    });
  }
  for (const site of planet.sites) {
    for (let k = 1; k <= site.tiers.app; k++) {
      const host = roleAddress(site.subnetCidr, "app", k);
      out.push({
        role: "app",
        site: site.name,
        id: `${site.name}-app${k}`,
        host,
        port: planet.ports.app,
        args: [appEntry],
        // The instance's identity: it holds its own lease with it (src/sdk), so the
        // gateways find it in the registry, not in this list.
        env: {
          REDSHIRT_PLANET: planetFile,
          REDSHIRT_SITE: site.name,
          REDSHIRT_INSTANCE_ID: `${site.name}-app${k}`,
          REDSHIRT_VERSION: "1",
          HOST: host,
          PORT: String(planet.ports.app),
        },
      });
    }
  }
  for (const g of planet.gateways) {
    out.push({
      role: "gateway",
      site: g.site,
      id: g.id,
      host: g.host,
      port: g.port,
      args: [cliMain, "gateway", ...common, "--site", g.site, "--index", String(g.index)],
    });
  }
  for (const d of planet.dnsServers) {
    out.push({
      role: "dns",
      site: d.site,
      id: d.id,
      host: d.host,
      port: d.port,
      args: [cliMain, "dns", ...common, "--site", d.site, "--index", String(d.index)],
    });
  }
  return out;
}

export class PlanetRunner {
  readonly #options: RunnerOptions;
  readonly #running = new Map<string, { p: PlanetProcess; launched: Launched }>();
  #stopping = false;

  constructor(options: RunnerOptions) {
    this.#options = options;
  }

  get processes(): Array<{ p: PlanetProcess; pid: number }> {
    return [...this.#running.values()].map(({ p, launched }) => ({ p, pid: launched.pid }));
  }

  /** Starts every process, role by role (each role's processes in parallel). Throws, after stopping what it started, if one fails. */
  async start(): Promise<void> {
    const appEntry = this.#options.appEntry ?? `${repoRoot}examples/hello/server.ts`;
    const all = planetProcesses(this.#options.planet, this.#options.planetFile, appEntry);
    const total = all.length;
    let ready = 0;
    try {
      for (const role of ["store", "app", "gateway", "dns"] as const) {
        const group = all.filter((p) => p.role === role);
        if (group.length === 0) continue;
        this.#options.onProgress?.(`starting ${group.length} ${role} process${group.length === 1 ? "" : "es"}…`);
        // Every launch of the group settles before we go on, so a process that was still
        // starting when another failed is known, and stopped with the rest.
        const results = await Promise.allSettled(
          group.map(async (p) => {
            const launched = await launch({
              name: `${p.role} ${p.id}`,
              command: nodeBin,
              args: p.args,
              env: { ...process.env, ...p.env },
              cwd: repoRoot,
              readyTimeoutMs: this.#options.readyTimeoutMs,
            });
            if (this.#stopping) {
              // Stopped (Ctrl-C) while this one was starting: it goes too.
              await launched.stop();
              return;
            }
            this.#running.set(p.id, { p, launched });
            ready++;
            this.#options.onProgress?.(
              `  ✓ ${p.role.padEnd(7)} ${p.id.padEnd(14)} ${p.host}:${p.port}  (${ready}/${total})`,
            );
            void launched.exited.then(({ code, signal }) => {
              this.#running.delete(p.id);
              if (!this.#stopping) this.#options.onExit?.(p, signal ? `killed by ${signal}` : `exited with ${code}`);
            });
          }),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
        if (failed) throw failed.reason;
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    // The whole planet stops: a gateway need not wait for DNS to drop it (SIGINT skips that wait).
    for (const { p, launched } of this.#running.values()) if (p.role === "gateway") launched.kill("SIGINT");
    await stopAll([...this.#running.values()].map((r) => r.launched));
    this.#running.clear();
  }
}
