// `npm run bench:wan`: what a link proxy costs. Two sites at the same place (a zero-delay,
// no-jitter, unlimited link: the proxy's own overhead and nothing else), a real `redshirt
// wan` process for site a, and in the same run:
//   - requests/s with wrk against a small HTTP backend in site b, direct and through the
//     link a->b (wrk keeps its connections open, so this is per-request overhead);
//   - bytes/s of a byte pump into a sink in site b, direct and through the link;
//   - the link process's CPU per request and per MB (from /proc).
// The link process runs on its own core; wrk, the backend and the pump share the other.
//   node bench/wan.ts [--duration S] [--connections N] [--rounds N] [--stream-connections N]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { dialAddress, loadPlanet } from "../src/topology/index.ts";
import { pinned, pinning, runWrk, type WrkResult } from "./support/wrk.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    connections: { type: "string", default: "32" },
    rounds: { type: "string", default: "2" },
    warmup: { type: "string", default: "2" },
    "stream-connections": { type: "string", default: "4" },
    "proxy-core": { type: "string", default: "0" },
    "load-core": { type: "string", default: "1" },
  },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const warmupS = Number(values.warmup);
const streamConnections = Number(values["stream-connections"]);
const roundsMax = 20;
if (!(durationS > 0 && connections > 0 && rounds > 0 && rounds <= roundsMax && warmupS >= 0 && streamConnections > 0)) {
  console.error("bench: --duration, --connections, --stream-connections, --rounds (1..20) must be positive numbers");
  process.exit(2);
}

// The bench's own subnets, away from the test suite's 127.10–127.199 ranges.
const planetYaml = `name: benchwan
zone: benchwan.test.
sites:
  - { name: a, city: A, lat: 10, lon: 10, subnet: 127.251.0.0/16, tiers: { store: 1, gateway: 1, dns: 0, app: 0 } }
  - { name: b, city: B, lat: 10, lon: 10, subnet: 127.252.0.0/16, tiers: { store: 1, gateway: 1, dns: 0, app: 0 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: emulated, jitterMs: 0, lossPct: 0 }
`;

const pin = pinned;

function log(line: string): void {
  console.log(`bench: ${line}`);
}

function wrk(url: string, seconds: number): WrkResult {
  return runWrk({ url, seconds, connections, core: values["load-core"] });
}

/** CPU seconds (user + system) a process has used so far. */
function cpuS(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  const ticksPerS = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticksPerS;
}

/** Runs the byte pump for `seconds`; resolves with bytes/s at the sink. */
function stream(listen: string, target: string, seconds: number): Promise<number> {
  const [cmd, args] = pin(values["load-core"], nodeBin, [
    "bench/support/tcp-stream.ts",
    "--listen",
    listen,
    "--connect",
    target,
    "--source",
    "127.251.2.9",
    "--seconds",
    String(seconds),
    "--connections",
    String(streamConnections),
  ]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    let result: number | undefined;
    let buffered = "";
    const progress: number[] = [];
    child.stdout.on("data", (d: Buffer) => {
      buffered += d.toString();
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        const line = JSON.parse(buffered.slice(0, i));
        buffered = buffered.slice(i + 1);
        if (line.event === "progress") {
          progress.push(line.mbPerS);
          log(`  … second ${progress.length}: ${line.mbPerS} MB/s`);
        } else if (line.event === "result") result = line.bytesPerS;
      }
    });
    child.once("exit", (code) => {
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`the byte pump exited with ${code}`));
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), "redshirt-bench-wan-"));
const started: Launched[] = [];

async function main(): Promise<void> {
  if (spawnSync("wrk", ["--version"]).error) throw new Error("wrk not found; install the Debian package wrk");
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(planetFile, planetYaml);
  const planet = loadPlanet(planetFile);
  loadPlanetSecret(join(dir, "data"), { create: true });
  log(
    `wrk -t1 -c${connections}, ${durationS} s per run, ${rounds} round(s); ` +
      (pinning
        ? `link process pinned to core ${values["proxy-core"]}, wrk, backend and byte pump to core ${values["load-core"]}`
        : "no pinning (taskset missing or one core)"),
  );
  const backend = planet.gateways.find((g) => g.site === "b")!;
  const sinkNode = planet.storeNodes.find((n) => n.site === "b")!;
  const viaBackend = dialAddress(planet, "a", backend);
  const viaSink = dialAddress(planet, "a", sinkNode);
  log(`the link a->b: zero distance, no jitter, no bandwidth limit (only the proxy's own cost)`);

  log(`starting the HTTP backend on ${backend.host}:${backend.port}`);
  const [bcmd, bargs] = pin(values["load-core"], nodeBin, [
    "bench/support/http-backend.ts",
    "--host",
    backend.host,
    "--port",
    String(backend.port),
  ]);
  started.push(await launch({ name: "backend", command: bcmd, args: bargs }));
  log(`starting the link process of site a (${viaBackend.host}:${viaBackend.port} -> ${backend.host}:${backend.port})`);
  const [wcmd, wargs] = pin(values["proxy-core"], nodeBin, [
    "src/cli/main.ts",
    "wan",
    "--planet",
    planetFile,
    "--site",
    "a",
  ]);
  const wan = await launch({
    name: "wan a",
    command: wcmd,
    args: wargs,
    env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
  });
  started.push(wan);
  const directUrl = `http://${backend.host}:${backend.port}/`;
  const linkUrl = `http://${viaBackend.host}:${viaBackend.port}/`;
  if (warmupS > 0) {
    log(`warming up (${warmupS} s each way)`);
    wrk(directUrl, warmupS);
    wrk(linkUrl, warmupS);
  }
  const direct: WrkResult[] = [];
  const link: WrkResult[] = [];
  const cpuPerRequestUs: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    log(`round ${r}/${rounds}: direct (${durationS} s)`);
    const d = wrk(directUrl, durationS);
    direct.push(d);
    log(`  direct   ${d.rps.toFixed(0).padStart(7)} req/s  p50 ${d.p50Ms.toFixed(2)} ms  p99 ${d.p99Ms.toFixed(2)} ms`);
    log(`round ${r}/${rounds}: through the link (${durationS} s)`);
    const cpuBefore = cpuS(wan.pid);
    const l = wrk(linkUrl, durationS);
    const cpu = cpuS(wan.pid) - cpuBefore;
    link.push(l);
    cpuPerRequestUs.push((cpu / Math.max(1, l.requests)) * 1e6);
    log(
      `  link     ${l.rps.toFixed(0).padStart(7)} req/s  p50 ${l.p50Ms.toFixed(2)} ms  p99 ${l.p99Ms.toFixed(2)} ms  link CPU ${cpu.toFixed(1)} s`,
    );
  }
  const streamS = Math.max(2, Math.round(durationS / 2));
  const sinkAt = `${sinkNode.host}:${sinkNode.port}`;
  log(`byte pump direct: ${streamConnections} connections into ${sinkAt} (${streamS} s)`);
  const bytesDirect = await stream(sinkAt, sinkAt, streamS);
  log(`byte pump through the link: into ${viaSink.host}:${viaSink.port} (${streamS} s)`);
  const cpuBefore = cpuS(wan.pid);
  const bytesLink = await stream(sinkAt, `${viaSink.host}:${viaSink.port}`, streamS);
  const cpuPerMbUs = ((cpuS(wan.pid) - cpuBefore) / ((bytesLink * streamS) / 1e6)) * 1e6;

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const d = median(direct.map((x) => x.rps));
  const l = median(link.map((x) => x.rps));
  console.log("");
  console.log(
    `path      req/s     p50 ms   p99 ms   (median of ${rounds} round(s), wrk -c${connections} -d${durationS}s)`,
  );
  const row = (name: string, rs: WrkResult[]) =>
    console.log(
      `${name.padEnd(8)}  ${median(rs.map((x) => x.rps))
        .toFixed(0)
        .padStart(7)}   ${median(rs.map((x) => x.p50Ms))
        .toFixed(2)
        .padStart(6)}   ${median(rs.map((x) => x.p99Ms))
        .toFixed(2)
        .padStart(6)}`,
    );
  row("direct", direct);
  row("link", link);
  console.log(
    `ratio link/direct: ${(l / d).toFixed(2)}× req/s; the link process spends ${median(cpuPerRequestUs).toFixed(1)} µs of CPU per request`,
  );
  console.log(
    `bytes/s: direct ${(bytesDirect / 1e6).toFixed(0)} MB/s, link ${(bytesLink / 1e6).toFixed(0)} MB/s (${(bytesLink / bytesDirect).toFixed(2)}×); the link process spends ${cpuPerMbUs.toFixed(0)} µs of CPU per MB`,
  );
  const errors = [...direct, ...link].reduce((a, x) => a + x.errors, 0);
  if (errors > 0) console.log(`warning: ${errors} wrk errors or non-2xx responses during the runs`);
}

try {
  await main();
} catch (err) {
  console.error(`bench: failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await Promise.all(started.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
}
