// `npm run bench:gateway`: the redshirt gateway against HAProxy, in the same run, in front
// of the same backend, each proxy pinned to the same core, driven by wrk with the same
// connections and duration. Prints req/s, p50 and p99 for both and the ratio.
//   node bench/gateway.ts [--duration S] [--connections N] [--rounds N] [--warmup S] [--no-direct]
//   [--gateway-node-flags "FLAGS"] (default: the flags the supervisor runs gateways with)
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Launched, launch } from "../src/core/index.ts";
import {
  benchGatewayCommand,
  benchGatewayFlags,
  startBenchBackend,
  writeBenchPlanet,
} from "./support/gateway-under-bench.ts";
import { pinned, pinning, runWrk, type WrkResult } from "./support/wrk.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    threads: { type: "string", default: "1" },
    rounds: { type: "string", default: "1" },
    warmup: { type: "string", default: "2" },
    "proxy-core": { type: "string", default: "0" },
    "load-core": { type: "string", default: "1" },
    "no-direct": { type: "boolean", default: false },
    "gateway-node-flags": { type: "string" },
  },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const threads = Number(values.threads);
const rounds = Number(values.rounds);
const warmupS = Number(values.warmup);
const roundsMax = 20;
if (!(durationS > 0 && connections > 0 && threads > 0 && rounds > 0 && rounds <= roundsMax && warmupS >= 0)) {
  console.error("bench: --duration, --connections, --threads, --rounds (1..20) must be positive numbers");
  process.exit(2);
}

// The bench's own subnet, away from the test suite's 127.10–127.199 ranges.
const subnet = "127.250";
const backend = { host: `${subnet}.4.1`, port: 9000 };
const gatewayAddr = { host: `${subnet}.2.1`, port: 8080 };
const haproxyAddr = { host: `${subnet}.2.2`, port: 8080 };

const pin = pinned;

function log(line: string): void {
  console.log(`bench: ${line}`);
}

function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ host, port });
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => {
        s.destroy();
        if (performance.now() > deadline) reject(new Error(`${host}:${port} not listening after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

function wrk(url: string, seconds: number): WrkResult {
  return runWrk({ url, seconds, connections, threads, core: values["load-core"] });
}

const dir = mkdtempSync(join(tmpdir(), "redshirt-bench-gw-"));
const started: Launched[] = [];
let haproxy: ChildProcess | undefined;

async function main(): Promise<void> {
  const haproxyBin = ["/usr/sbin/haproxy", "haproxy"].find((b) => spawnSync(b, ["-v"]).status === 0);
  if (!haproxyBin) throw new Error("haproxy not found; install the Debian package haproxy");
  if (spawnSync("wrk", ["--version"]).error) throw new Error("wrk not found; install the Debian package wrk");
  log(
    `wrk -t${threads} -c${connections}, ${durationS} s per run, ${rounds} round(s), warmup ${warmupS} s; ` +
      (pinning
        ? `proxies pinned to core ${values["proxy-core"]}, backend and wrk to core ${values["load-core"]}`
        : "no pinning (taskset missing or one core)"),
  );

  const planetFile = writeBenchPlanet(dir, subnet);
  const haproxyCfg = join(dir, "haproxy.cfg");
  writeFileSync(
    haproxyCfg,
    [
      "global",
      "  nbthread 1",
      "  maxconn 4096",
      "defaults",
      "  mode http",
      "  timeout connect 1s",
      "  timeout client 60s",
      "  timeout server 15s",
      "  timeout http-request 10s",
      "  timeout http-keep-alive 60s",
      "  option http-keep-alive",
      "  option forwardfor",
      "frontend fe",
      `  bind ${haproxyAddr.host}:${haproxyAddr.port}`,
      "  unique-id-format %[uuid()]",
      "  unique-id-header X-Request-Id",
      "  http-request set-header X-Forwarded-Proto http",
      "  http-request set-header X-Forwarded-Host %[req.hdr(host)]",
      "  default_backend be",
      "backend be",
      "  balance leastconn",
      "  option httpchk GET /healthz",
      `  server app1 ${backend.host}:${backend.port} check inter 200 fall 2 rise 2`,
      "",
    ].join("\n"),
  );

  log(`starting the backend on ${backend.host}:${backend.port}`);
  started.push(await startBenchBackend(values["load-core"], backend));

  // The flags the supervisor runs every gateway with (--gateway-node-flags "" for V8's defaults).
  const gatewayFlags = benchGatewayFlags(values["gateway-node-flags"]);
  log(
    `starting the gateway on ${gatewayAddr.host}:${gatewayAddr.port} (node flags: ${gatewayFlags.join(" ") || "none"})`,
  );
  const [gcmd, gargs] = benchGatewayCommand(values["proxy-core"], gatewayFlags, planetFile);
  started.push(
    await launch({ name: "gateway", command: gcmd, args: gargs, env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" } }),
  );

  log(`starting HAProxy on ${haproxyAddr.host}:${haproxyAddr.port} (nbthread 1)`);
  const [hcmd, hargs] = pin(values["proxy-core"], haproxyBin, ["-db", "-f", haproxyCfg]);
  haproxy = spawn(hcmd, hargs, { stdio: ["ignore", "ignore", "pipe"] });
  let haproxyErr = "";
  haproxy.stderr?.on("data", (d: Buffer) => {
    haproxyErr = (haproxyErr + d.toString()).slice(-2000);
  });
  await waitForPort(haproxyAddr.host, haproxyAddr.port, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; HAProxy said: ${haproxyErr}`);
  });
  // Let HAProxy's first health checks pass before measuring.
  await new Promise((r) => setTimeout(r, 700));

  const gwUrl = `http://${gatewayAddr.host}:${gatewayAddr.port}/`;
  const hpUrl = `http://${haproxyAddr.host}:${haproxyAddr.port}/`;
  if (warmupS > 0) {
    log(`warming up both proxies (${warmupS} s each)`);
    wrk(gwUrl, warmupS);
    wrk(hpUrl, warmupS);
  }
  if (!values["no-direct"]) {
    const s = Math.max(1, Math.round(durationS / 2));
    log(`backend alone, no proxy (${s} s): shows how much headroom the backend leaves`);
    const d = wrk(`http://${backend.host}:${backend.port}/`, s);
    log(`  direct   ${d.rps.toFixed(0).padStart(7)} req/s  p50 ${d.p50Ms.toFixed(2)} ms  p99 ${d.p99Ms.toFixed(2)} ms`);
  }
  const gw: WrkResult[] = [];
  const hp: WrkResult[] = [];
  for (let r = 1; r <= rounds; r++) {
    log(`round ${r}/${rounds}: gateway (${durationS} s)`);
    const g = wrk(gwUrl, durationS);
    gw.push(g);
    log(
      `  gateway  ${g.rps.toFixed(0).padStart(7)} req/s  p50 ${g.p50Ms.toFixed(2)} ms  p99 ${g.p99Ms.toFixed(2)} ms  errors ${g.errors}`,
    );
    log(`round ${r}/${rounds}: haproxy (${durationS} s)`);
    const h = wrk(hpUrl, durationS);
    hp.push(h);
    log(
      `  haproxy  ${h.rps.toFixed(0).padStart(7)} req/s  p50 ${h.p50Ms.toFixed(2)} ms  p99 ${h.p99Ms.toFixed(2)} ms  errors ${h.errors}`,
    );
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const g = {
    rps: median(gw.map((x) => x.rps)),
    p50: median(gw.map((x) => x.p50Ms)),
    p99: median(gw.map((x) => x.p99Ms)),
  };
  const h = {
    rps: median(hp.map((x) => x.rps)),
    p50: median(hp.map((x) => x.p50Ms)),
    p99: median(hp.map((x) => x.p99Ms)),
  };
  console.log("");
  console.log(
    `proxy     req/s     p50 ms   p99 ms   (median of ${rounds} round(s), wrk -c${connections} -d${durationS}s)`,
  );
  console.log(
    `gateway   ${g.rps.toFixed(0).padStart(7)}   ${g.p50.toFixed(2).padStart(6)}   ${g.p99.toFixed(2).padStart(6)}`,
  );
  console.log(
    `haproxy   ${h.rps.toFixed(0).padStart(7)}   ${h.p50.toFixed(2).padStart(6)}   ${h.p99.toFixed(2).padStart(6)}`,
  );
  console.log(`ratio gateway/haproxy: ${(g.rps / h.rps).toFixed(2)}× req/s`);
  const errors = [...gw, ...hp].reduce((a, x) => a + x.errors, 0);
  if (errors > 0) console.log(`warning: ${errors} wrk errors or non-2xx responses during the runs`);
}

try {
  await main();
} catch (err) {
  console.error(`bench: failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  haproxy?.kill("SIGTERM");
  await Promise.all(started.map((p) => p.stop()));
  rmSync(dir, { recursive: true, force: true });
}
