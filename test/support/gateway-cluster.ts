// Helpers for gateway integration tests: a planet in a temp dir, echo app instances and
// gateways as real processes (through the one launcher), and a bounded steady load that
// records every request. Each test file passes its own subnets so files can run at once.
// Without a store the gateways use the planet's address plan (--static-backends); with
// `registry: true` each site runs a store node, the apps hold leases through the SDK and
// the gateways find them in the registry, as in production.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { hmacHex, type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../../src/core/index.ts";

export type SiteSpec = { name: string; subnet: string; lat: number; lon: number; apps: number };

export type Arrival = { id: string; method: string; url: string; requestId?: string; tag?: string };

export type App = { id: string; site: string; host: string; proc: Launched; arrivals: Arrival[] };

export type ClusterOptions = {
  /** Run a store node per site; apps register, gateways discover (default false: static backends). */
  readonly registry?: boolean;
  /** More top-level planet file lines (e.g. a `gateway:` section). */
  readonly planetLines?: readonly string[];
};

export class Cluster {
  readonly registry: boolean;
  readonly stores = new Map<string, Launched>();
  readonly dir: string;
  readonly planetFile: string;
  readonly sites: SiteSpec[];
  readonly apps = new Map<string, App>();
  readonly gateways = new Map<string, Launched>();
  readonly appPort = 9000;
  readonly gatewayPort = 8080;
  /** Every arrival logged by any app, in order. */
  readonly arrivals: Arrival[] = [];

  constructor(sites: SiteSpec[], options: ClusterOptions = {}) {
    this.sites = sites;
    this.registry = options.registry ?? false;
    this.dir = mkdtempSync(join(tmpdir(), "redshirt-gw-test-"));
    this.planetFile = join(this.dir, "planet.yaml");
    const lines = ["name: gwtest", "zone: gwtest.test.", "sites:"];
    const stores = this.registry ? 1 : 3;
    for (const s of sites) {
      lines.push(
        `  - { name: ${s.name}, city: ${s.name}, lat: ${s.lat}, lon: ${s.lon}, subnet: ${s.subnet}.0.0/16, tiers: { store: ${stores}, gateway: 1, dns: 0, app: ${s.apps} } }`,
      );
    }
    if (this.registry) lines.push("store: { partitions: 8, rf: 1, dataDir: data }");
    // These tests are about the gateway, not distance: sites dial each other directly.
    lines.push("wan: { mode: direct }");
    lines.push(...(options.planetLines ?? []));
    writeFileSync(this.planetFile, `${lines.join("\n")}\n`);
    // What `redshirt up` does first: the gateways authenticate each other's RS-Hop with it.
    loadPlanetSecret(join(this.dir, this.registry ? "data" : ".redshirt/data"), { create: true });
  }

  /** Starts the store node of every site (registry mode). */
  async startStores(): Promise<void> {
    await Promise.all(
      this.sites.map(async (s) => {
        const node = `${s.name}-store1`;
        const p = await launch({
          name: `store ${node}`,
          command: nodeBin,
          args: ["src/cli/main.ts", "store", "--planet", this.planetFile, "--node", node],
          env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
        });
        this.stores.set(s.name, p);
      }),
    );
  }

  site(name: string): SiteSpec {
    const s = this.sites.find((x) => x.name === name);
    if (!s) throw new Error(`no site ${name}`);
    return s;
  }

  gatewayUrl(site: string): string {
    return `http://${this.site(site).subnet}.2.1:${this.gatewayPort}`;
  }

  gatewayAddress(site: string): { host: string; port: number } {
    return { host: `${this.site(site).subnet}.2.1`, port: this.gatewayPort };
  }

  /** An authentic RS-Hop value from `site`'s gateway (what only a holder of the planet secret can make). */
  hopStamp(site: string): string {
    const secret = loadPlanetSecret(join(this.dir, this.registry ? "data" : ".redshirt/data"));
    const t = String(Math.floor(Date.now() / 1000));
    return `${site}; t=${t}; mac=${hmacHex(secret, "redshirt-hop-v1", site, t)}`;
  }

  /** Starts app instance k (1-based) of a site; replaces a dead one on the same address. */
  async startApp(site: string, k: number, version = "1"): Promise<App> {
    const s = this.site(site);
    const id = `${site}-app${k}`;
    const host = `${s.subnet}.4.${k}`;
    const app: App = { id, site, host, proc: undefined as unknown as Launched, arrivals: [] };
    app.proc = await launch({
      name: id,
      command: nodeBin,
      args: [
        "test/support/echo-app.ts",
        ...["--host", host, "--port", String(this.appPort), "--id", id, "--site", site],
        ...(this.registry ? ["--planet", this.planetFile, "--version", version] : []),
      ],
      env: { ...process.env, REDSHIRT_LOG_LEVEL: process.env.REDSHIRT_LOG_LEVEL ?? "warn" },
      onLine: (line, stream) => {
        if (stream !== "stderr" || !line.includes('"arrival"')) return;
        try {
          const a = JSON.parse(line) as Arrival;
          app.arrivals.push(a);
          this.arrivals.push(a);
        } catch {
          // Not an arrival line.
        }
      },
    });
    this.apps.set(id, app);
    return app;
  }

  async startApps(site: string): Promise<void> {
    const s = this.site(site);
    await Promise.all(Array.from({ length: s.apps }, (_, i) => this.startApp(site, i + 1)));
  }

  async startGateway(site: string, extraArgs: string[] = []): Promise<Launched> {
    const g = await launch({
      name: `${site}-gateway`,
      command: nodeBin,
      args: [
        "src/cli/main.ts",
        "gateway",
        ...["--planet", this.planetFile, "--site", site],
        ...(this.registry ? [] : ["--static-backends"]),
        ...extraArgs,
      ],
      env: { ...process.env, REDSHIRT_LOG_LEVEL: process.env.REDSHIRT_LOG_LEVEL ?? "warn" },
    });
    this.gateways.set(site, g);
    return g;
  }

  kill(appId: string): void {
    const app = this.apps.get(appId);
    if (!app) throw new Error(`no app ${appId}`);
    app.proc.kill("SIGKILL");
  }

  async stop(): Promise<void> {
    // Cleanup needs no grace: no DNS to leave, no request worth finishing.
    await stopAll(this.gateways.values(), 0);
    await stopAll(
      [...this.apps.values()].map((a) => a.proc),
      0,
    );
    await stopAll(this.stores.values());
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export type Outcome = {
  startMs: number;
  endMs: number;
  status: number;
  /** The instance that answered (x-instance header), if any. */
  instance?: string;
  error?: string;
};

/** Idempotent GETs from `concurrency` loops until `until()` is true, bounded by requestsMax. */
export async function steadyLoad(options: {
  url: string;
  path: string;
  concurrency: number;
  until: () => boolean;
  requestsMax?: number;
}): Promise<Outcome[]> {
  const origin = new URL(options.url).origin;
  const pool = new Pool(origin, { connections: options.concurrency, pipelining: 1 });
  const out: Outcome[] = [];
  const requestsMax = options.requestsMax ?? 100_000;
  const worker = async (): Promise<void> => {
    while (!options.until() && out.length < requestsMax) {
      const startMs = performance.now();
      try {
        const r = await pool.request({
          path: options.path,
          method: "GET",
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await r.body.dump();
        const inst = r.headers["x-instance"];
        out.push({
          startMs,
          endMs: performance.now(),
          status: r.statusCode,
          instance: typeof inst === "string" ? inst : undefined,
        });
      } catch (err) {
        out.push({ startMs, endMs: performance.now(), status: 0, error: (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  await pool.close();
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls fn until it returns true or timeoutMs passes; returns the time it took, or -1. */
export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 20): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if (await fn()) return performance.now() - start;
    await sleep(everyMs);
  }
  return -1;
}

/** GETs a URL with fetch (undici), returning status, headers and text. */
export async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const r = await fetch(url, { headers, signal: AbortSignal.timeout(5_000) });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** Writes raw bytes on a fresh connection and collects what comes back until close or a quiet timeout. */
export function rawExchange(
  address: { host: string; port: number; localAddress?: string },
  data: string | Buffer | Array<string | Buffer>,
  options: { quietMs?: number; afterFirst?: (sock: Socket, got: Buffer) => void } = {},
): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    let first = true;
    const s = connect(address);
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(finish, options.quietMs ?? 1_500);
    };
    s.on("connect", () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d);
      arm();
    });
    s.on("data", (d: Buffer) => {
      chunks.push(d);
      if (first && options.afterFirst) {
        first = false;
        options.afterFirst(s, Buffer.concat(chunks));
      }
      arm();
    });
    s.on("error", () => {});
    s.on("close", () => {
      closed = true;
      finish();
    });
  });
}

/** Splits raw HTTP/1.1 responses with Content-Length bodies into [status, head, body] triples. */
export function splitResponses(bytes: Buffer): Array<{ status: number; head: string; body: string }> {
  const out: Array<{ status: number; head: string; body: string }> = [];
  let text = bytes.toString("latin1");
  while (text.length > 0) {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) break;
    const head = text.slice(0, end);
    const m = /content-length: (\d+)/i.exec(head);
    const len = m ? Number(m[1]) : text.length - end - 4;
    out.push({ status: Number(head.slice(9, 12)), head, body: text.slice(end + 4, end + 4 + len) });
    text = text.slice(end + 4 + len);
  }
  return out;
}
