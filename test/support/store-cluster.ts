// Starts real store node processes for tests and benchmarks: a planet written to a temp
// dir, one `redshirt store` process per node (via the one launcher), SIGKILL and restart by
// node id, SIGSTOP/SIGCONT (a node that is there but answers nothing), and cleanup that always
// removes every process and file (paused ones are resumed first, or they could not stop).
// The planet secret is made in the planet's data dir first, as `redshirt up` does.
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../../src/core/index.ts";
import { loadPlanet, type Planet, storeNodeById } from "../../src/topology/index.ts";

const debugLog = process.env.STORE_CLUSTER_LOG;
const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

export type StoreClusterOptions = {
  /** Site name -> second octet of its 127.x.0.0/16 subnet (unique per test file). */
  readonly sites: ReadonlyArray<{ name: string; octet: number; lat: number; lon: number; nodes?: number }>;
  readonly partitions?: number;
  readonly rf?: number;
  readonly storePort?: number;
  /** store.deadPeerAfterS (default: the planet's default). */
  readonly deadPeerAfterS?: number;
  readonly extraYaml?: string;
};

export class StoreCluster {
  readonly dir: string;
  readonly planetFile: string;
  readonly planet: Planet;
  /** The planet secret every node of the cluster reads (tests use it to forge or sign). */
  readonly secret: Buffer;
  readonly processes = new Map<string, Launched>();
  readonly #paused = new Set<string>();

  constructor(options: StoreClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), "redshirt-store-"));
    this.planetFile = join(this.dir, "planet.yaml");
    const sites = options.sites
      .map(
        (s) =>
          `  - { name: ${s.name}, city: ${s.name}, lat: ${s.lat}, lon: ${s.lon}, subnet: 127.${s.octet}.0.0/16, tiers: { store: ${s.nodes ?? 3}, app: 0 } }`,
      )
      .join("\n");
    writeFileSync(
      this.planetFile,
      `name: test\nzone: test.example.\nsites:\n${sites}\nstore: { partitions: ${options.partitions ?? 16}, rf: ${options.rf ?? 3}, dataDir: data${options.deadPeerAfterS ? `, deadPeerAfterS: ${options.deadPeerAfterS}` : ""} }\nports: { store: ${options.storePort ?? 7400} }\n${options.extraYaml?.includes("wan:") ? "" : "wan: { mode: direct }\n"}${options.extraYaml ?? ""}`,
    );
    this.planet = loadPlanet(this.planetFile);
    this.secret = loadPlanetSecret(resolve(this.planet.baseDir, this.planet.store.dataDir), { create: true });
  }

  url(nodeId: string): string {
    // A node added by `store join` is not in the planet file: its id gives its address.
    const n = storeNodeById(this.planet, nodeId);
    if (!n) throw new Error(`no node ${nodeId}`);
    return `http://${n.host}:${n.port}`;
  }

  nodesOf(site: string): string[] {
    return this.planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
  }

  async start(nodeId: string): Promise<Launched> {
    const p = await launch({
      name: `store ${nodeId}`,
      command: nodeBin,
      // A node added by `store join` is outside the planet file: it starts with --join.
      args: [
        // STORE_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the nodes (node refuses --cpu-prof in NODE_OPTIONS).
        ...(process.env.STORE_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
        cliMain,
        "store",
        "--planet",
        this.planetFile,
        "--node",
        nodeId,
        ...(this.planet.storeNodes.some((n) => n.id === nodeId) ? [] : ["--join"]),
      ],
      env: { ...process.env, REDSHIRT_LOG_LEVEL: debugLog ? "info" : "warn" },
      // Nine nodes loading the code at once on two shared cores (load 20+) take a while.
      readyTimeoutMs: 60_000,
      // STORE_CLUSTER_LOG=FILE keeps every node's log lines there (debugging a failed run).
      onLine: debugLog ? (line) => appendFileSync(debugLog, `${nodeId} ${line}\n`) : undefined,
    });
    this.processes.set(nodeId, p);
    return p;
  }

  /** Starts every node; if one fails, waits for the others to be up first, so cleanup finds them all. */
  async startAll(): Promise<void> {
    const results = await Promise.allSettled(this.planet.storeNodes.map((n) => this.start(n.id)));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  /** SIGKILL: no goodbye, no flush. */
  async kill(nodeId: string): Promise<void> {
    const p = this.processes.get(nodeId);
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
    this.processes.delete(nodeId);
    this.#paused.delete(nodeId);
  }

  /** SIGSTOP: the process keeps its sockets open but runs nothing until resumed. */
  pause(nodeId: string): void {
    const p = this.processes.get(nodeId);
    if (!p) throw new Error(`${nodeId} is not running`);
    p.kill("SIGSTOP");
    this.#paused.add(nodeId);
  }

  resume(nodeId: string): void {
    this.processes.get(nodeId)?.kill("SIGCONT");
    this.#paused.delete(nodeId);
  }

  async stop(): Promise<void> {
    for (const nodeId of [...this.#paused]) this.resume(nodeId);
    await Promise.all([...this.processes.values()].map((p) => p.stop()));
    this.processes.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
