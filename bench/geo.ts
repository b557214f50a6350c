// `npm run bench:geo`: the store's `global` writes across the emulated WAN of the demo
// planet's geometry (New York, London, Singapore; route stretch 1.5), on a temp planet with
// its own 127.220–127.222 blocks so it never meets a running `npm start` or the tests:
//   - the three sites' link processes (`redshirt wan`) and 3 store nodes per site, each its
//     own process; store peers dial each other through the links (dialAddress);
//   - from a client in each site, `global` writes to its own site's nodes (all sites at
//     once, a few in flight), p50/p99 per site beside the physical floor: the RTT to the
//     nearest other site (src/topology);
//   - WAN bytes per write, from the link processes' byte counters (less the idle rate
//     measured first: anti-entropy and heartbeats);
//   - the write stall in the surviving sites when every process of Singapore is SIGKILLed:
//     the longest gap between successful writes there, over a few seconds after the kill.
// Every process is stopped on exit, on failure and on SIGINT/SIGTERM.
//   node bench/geo.ts [--seconds S] [--writes N] [--inflight N] [--after-kill S]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { loadPlanet, type Planet, siteRttMs } from "../src/topology/index.ts";
import { WanAdminClient } from "../src/wan/index.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    writes: { type: "string", default: "300" },
    inflight: { type: "string", default: "4" },
    "after-kill": { type: "string", default: "6" },
  },
});
const durationS = Number(values.seconds);
const writesMax = Number(values.writes);
const inflight = Number(values.inflight);
const afterKillS = Number(values["after-kill"]);
if (!(durationS > 0 && writesMax > 0 && inflight > 0 && inflight <= 64 && afterKillS > 0)) {
  console.error("bench: --seconds, --writes, --after-kill must be positive, --inflight 1..64");
  process.exit(2);
}
const requestTimeoutMs = 10_000;
const value = "x".repeat(100);
const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

// The demo planet's geometry and WAN (examples/planet.yaml), in blocks of our own.
const planetYaml = `name: benchgeo
zone: benchgeo.test.
sites:
  - { name: nyc, city: New York, lat: 40.7128, lon: -74.0060, subnet: 127.220.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
  - { name: lon, city: London, lat: 51.5074, lon: -0.1278, subnet: 127.221.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
  - { name: sin, city: Singapore, lat: 1.3521, lon: 103.8198, subnet: 127.222.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
store: { partitions: 64, rf: 3, consistency: local-quorum, dataDir: data }
wan: { mode: emulated, routeStretch: 1.5, fiberKmPerMs: 200, jitterMs: 1, bandwidthMbps: 200, lossPct: 0 }
`;

function log(line: string): void {
  console.log(`bench: ${line}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

type SiteResult = { site: string; ok: number; errors: number; p50Ms: number; p99Ms: number; floorMs: number };

const dir = mkdtempSync(join(tmpdir(), "redshirt-bench-geo-"));
const processes = new Map<string, Launched>();
const pools: Pool[] = [];
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled(pools.map((p) => p.destroy()));
    await stopAll(processes.values(), 2_000);
    processes.clear();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function start(name: string, args: string[]): Promise<void> {
  const p = await launch({
    name,
    command: nodeBin,
    args: [cliMain, ...args],
    env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
  });
  processes.set(name, p);
}

/** A client in `site`: one pool per local node, writes spread over them. */
function siteClient(planet: Planet, site: string) {
  const nodes = planet.storeNodes.filter((n) => n.site === site);
  const sitePools = nodes.map((n) => new Pool(`http://${n.host}:${n.port}`, { connections: inflight, pipelining: 1 }));
  pools.push(...sitePools);
  let seq = 0;
  return async (tag: string): Promise<void> => {
    const i = seq++;
    const key = `geo/${tag}/${site}/${i}`;
    const res = await sitePools[i % sitePools.length].request({
      method: "PUT",
      path: `/v1/kv/${encodeURIComponent(key)}?consistency=global`,
      headers: { "content-type": "application/json", "idempotency-key": `${tag}-${site}-${i}` },
      body: JSON.stringify({ value }),
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 201 && res.statusCode !== 204) {
      throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    }
  };
}

/** `inflight` loops writing until `until()` says stop; calls back with each outcome. */
async function writeLoop(
  write: () => Promise<void>,
  until: () => boolean,
  onDone: (ok: boolean, ms: number, err?: unknown) => void,
): Promise<void> {
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (!until()) {
        const t0 = performance.now();
        try {
          await write();
          onDone(true, performance.now() - t0);
        } catch (err) {
          onDone(false, performance.now() - t0, err);
        }
      }
    }),
  );
}

async function wanBytes(admin: WanAdminClient, sites: readonly string[]): Promise<number> {
  const listings = await Promise.all(sites.map((s) => admin.links(s)));
  let total = 0;
  for (const l of listings) for (const link of l.links) total += link.bytes.forward + link.bytes.back;
  return total;
}

async function main(): Promise<void> {
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(planetFile, planetYaml);
  const planet = loadPlanet(planetFile);
  const secret = loadPlanetSecret(join(dir, "data"), { create: true });
  const sites = planet.sites.map((s) => s.name);
  const admin = new WanAdminClient({ planet, secret });

  log(`planet: ${planet.sites.map((s) => `${s.name} (${s.city}, ${s.subnetCidr.text})`).join(", ")}`);
  for (const [a, b] of [
    ["nyc", "lon"],
    ["nyc", "sin"],
    ["lon", "sin"],
  ]) {
    log(`  RTT ${a}<->${b}: ${siteRttMs(planet, a, b).toFixed(1)} ms`);
  }
  log("starting the three sites' link processes…");
  await Promise.all(sites.map((s) => start(`wan ${s}`, ["wan", "--planet", planetFile, "--site", s])));
  log("starting 9 store nodes (3 per site)…");
  await Promise.all(
    planet.storeNodes.map((n) => start(`store ${n.id}`, ["store", "--planet", planetFile, "--node", n.id])),
  );
  const clients = new Map(sites.map((s) => [s, siteClient(planet, s)]));

  log("warming up: 10 global writes per site (connections, handshakes across the links)…");
  for (let i = 0; i < 10; i++) await Promise.all(sites.map((s) => clients.get(s)!("warm")));

  const idleS = 3;
  log(`measuring the links' idle traffic for ${idleS} s (anti-entropy, heartbeats)…`);
  const idle0 = await wanBytes(admin, sites);
  await sleep(idleS * 1000);
  const idleBytesPerS = ((await wanBytes(admin, sites)) - idle0) / idleS;
  log(`  idle: ${(idleBytesPerS / 1000).toFixed(1)} kB/s over all links`);

  log(`global writes from every site at once: ${inflight} in flight per site, ${durationS} s or ${writesMax} writes`);
  const bytes0 = await wanBytes(admin, sites);
  const t0 = performance.now();
  const results: SiteResult[] = await Promise.all(
    sites.map(async (site) => {
      const latencies: number[] = [];
      let errors = 0;
      let firstError: unknown;
      let started = 0;
      const deadline = t0 + durationS * 1000;
      let lastPrint = performance.now();
      await writeLoop(
        () => clients.get(site)!("run"),
        () => started++ >= writesMax || performance.now() > deadline,
        (ok, ms, err) => {
          if (ok) latencies.push(ms);
          else {
            errors++;
            firstError ??= err;
          }
          if (performance.now() - lastPrint > 2000) {
            lastPrint = performance.now();
            log(`  ${site}: ${latencies.length} writes, ${errors} errors`);
          }
        },
      );
      if (firstError) log(`  ${site}: first error: ${(firstError as Error).message}`);
      latencies.sort((a, b) => a - b);
      const floorMs = Math.min(...sites.filter((o) => o !== site).map((o) => siteRttMs(planet, site, o)));
      return {
        site,
        ok: latencies.length,
        errors,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        floorMs,
      };
    }),
  );
  const runS = (performance.now() - t0) / 1000;
  const writeBytes = (await wanBytes(admin, sites)) - bytes0 - idleBytesPerS * runS;
  const totalWrites = results.reduce((a, r) => a + r.ok, 0);
  const bytesPerWrite = writeBytes / Math.max(1, totalWrites);
  for (const r of results) {
    log(`  ${r.site}: ${r.ok} ok, ${r.errors} errors, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms`);
  }
  log(
    `  WAN bytes per write: ${bytesPerWrite.toFixed(0)} (${totalWrites} writes in ${runS.toFixed(1)} s, idle rate subtracted)`,
  );

  // Site loss: writers in the survivors, then every process of Singapore SIGKILLed.
  const victim = "sin";
  const survivors = sites.filter((s) => s !== victim);
  const beforeKillS = 3;
  log(`site loss: global writes in ${survivors.join(", ")}; SIGKILL every process of ${victim} after ${beforeKillS} s`);
  let stop = false;
  const okTimes = new Map(survivors.map((s) => [s, [] as number[]]));
  const failures = new Map(survivors.map((s) => [s, 0]));
  const loops = survivors.map((site) =>
    writeLoop(
      () => clients.get(site)!("loss"),
      () => stop,
      (ok) => {
        if (ok) okTimes.get(site)!.push(performance.now());
        else failures.set(site, failures.get(site)! + 1);
      },
    ),
  );
  await sleep(beforeKillS * 1000);
  const victims = [...processes.entries()].filter(
    ([name]) => name === `wan ${victim}` || name.startsWith(`store ${victim}`),
  );
  const killedAt = performance.now();
  for (const [, p] of victims) p.kill("SIGKILL");
  await Promise.all(victims.map(([, p]) => p.exited));
  for (const [name] of victims) processes.delete(name);
  log(`  killed ${victims.map(([n]) => n).join(", ")}; writing for ${afterKillS} s more`);
  await sleep(afterKillS * 1000);
  stop = true;
  await Promise.all(loops);
  const endAt = killedAt + afterKillS * 1000;
  const stalls = survivors.map((site) => {
    const times = okTimes.get(site)!.filter((t) => t <= endAt);
    let last = Math.max(...times.filter((t) => t <= killedAt), killedAt - 1e9);
    let gap = 0;
    for (const t of times.filter((x) => x > killedAt)) {
      gap = Math.max(gap, t - Math.max(last, killedAt));
      last = t;
    }
    gap = Math.max(gap, endAt - Math.max(last, killedAt));
    const after = times.filter((t) => t > killedAt).length;
    log(`  ${site}: ${after} writes after the kill, ${failures.get(site)} failed, longest gap ${gap.toFixed(0)} ms`);
    return { site, gapMs: gap, after };
  });

  console.log("");
  console.log(
    `global writes, ${inflight} in flight per site, demo geometry (route stretch ${planet.wan.routeStretch}, ${planet.wan.bandwidthMbps} Mbit/s links)`,
  );
  console.log("site   floor (RTT to nearest other site)   ours p50   ours p99   writes   errors");
  for (const r of results) {
    console.log(
      `${r.site.padEnd(6)} ${`${r.floorMs.toFixed(1)} ms`.padStart(34)} ${`${r.p50Ms.toFixed(1)} ms`.padStart(10)} ${`${r.p99Ms.toFixed(1)} ms`.padStart(10)} ${String(r.ok).padStart(8)} ${String(r.errors).padStart(8)}`,
    );
  }
  console.log(`WAN bytes per write (all links, both directions, idle rate subtracted): ${bytesPerWrite.toFixed(0)}`);
  console.log(
    `write stall in the survivors when ${victim} is SIGKILLed: ${stalls.map((s) => `${s.site} ${s.gapMs.toFixed(0)} ms (${s.after} writes after)`).join(", ")}`,
  );
}

try {
  await main();
} catch (err) {
  console.error(`bench: failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exit(process.exitCode ?? 0);
