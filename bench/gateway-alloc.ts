// `node bench/gateway-alloc.ts`: what one proxied request costs the gateway in allocations,
// young-generation collections and CPU — figures that, unlike latency, barely move with
// machine noise. A plain keep-alive GET through the gateway to one lean backend, driven by
// wrk; the gateway runs with the supervisor's node flags and bench/support/alloc-probe.ts,
// which counts the JS heap bytes allocated (exactly, from every collection's before/after),
// the collections by kind, and the process's CPU time over the measured window only.
//   node bench/gateway-alloc.ts [--duration S] [--connections N] [--warmup S] [--runs N]
//   [--gateway-node-flags "FLAGS"] [--node-head] [--heap-profile FILE] (a sampling heap profile of the last
//   run's window, collected objects included; the sampling slows the gateway). --node-head: the
//   backend answers with node:http's Connection and Keep-Alive fields, which the gateway rewrites.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
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
import { pinning, runWrk } from "./support/wrk.ts";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    connections: { type: "string", default: "32" },
    warmup: { type: "string", default: "2" },
    runs: { type: "string", default: "2" },
    "proxy-core": { type: "string", default: "0" },
    "load-core": { type: "string", default: "1" },
    "gateway-node-flags": { type: "string" },
    "heap-profile": { type: "string" },
    "node-head": { type: "boolean", default: false },
  },
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const warmupS = Number(values.warmup);
const runs = Number(values.runs);
const runsMax = 10;
if (!(durationS > 0 && connections > 0 && warmupS >= 0 && runs > 0 && runs <= runsMax)) {
  console.error("bench: --duration, --connections, --runs (1..10) must be positive numbers");
  process.exit(2);
}

// Its own subnet: away from the test suite's blocks and from bench/gateway.ts (127.250).
const subnet = "127.253";
const backend = { host: `${subnet}.4.1`, port: 9000 };
const gatewayAddr = { host: `${subnet}.2.1`, port: 8080 };

type Probe = {
  allocatedBytes: number;
  gcs: Record<string, number>;
  gcPauseUs: number;
  cpuUs: number;
  wallMs: number;
};

function log(line: string): void {
  console.log(`bench: ${line}`);
}

const dir = mkdtempSync(join(tmpdir(), "redshirt-bench-gwalloc-"));
const started: Launched[] = [];

async function main(): Promise<void> {
  if (spawnSync("wrk", ["--version"]).error) throw new Error("wrk not found; install the Debian package wrk");
  const planetFile = writeBenchPlanet(dir, subnet);
  started.push(await startBenchBackend(values["load-core"], backend, values["node-head"] ? ["--node-head"] : []));

  const gatewayFlags = benchGatewayFlags(values["gateway-node-flags"]);
  let probed: ((p: Probe) => void) | undefined;
  const [gcmd, gargs] = benchGatewayCommand(values["proxy-core"], gatewayFlags, planetFile, [
    "--import",
    "./bench/support/alloc-probe.ts",
  ]);
  const gateway = await launch({
    name: "gateway",
    command: gcmd,
    args: gargs,
    env: {
      ...process.env,
      REDSHIRT_LOG_LEVEL: "warn",
      ...(values["heap-profile"] ? { REDSHIRT_ALLOC_PROFILE: values["heap-profile"] } : {}),
    },
    onLine: (line) => {
      if (!line.startsWith('{"event":"alloc-probe"')) return;
      probed?.(JSON.parse(line) as Probe);
    },
  });
  started.push(gateway);
  // pinned() runs the gateway under taskset, which execs it: the pid is the gateway's.
  const window = async (run: () => number): Promise<{ probe: Probe; requests: number }> => {
    const got = new Promise<Probe>((resolve) => {
      probed = resolve;
    });
    gateway.child.kill("SIGUSR2");
    // Let the probe open its window before the load starts.
    await new Promise((r) => setTimeout(r, 100));
    const requests = run();
    gateway.child.kill("SIGUSR2");
    return { probe: await got, requests };
  };

  const url = `http://${gatewayAddr.host}:${gatewayAddr.port}/`;
  log(
    `wrk -c${connections} ${durationS} s × ${runs} run(s) after ${warmupS} s warmup; gateway node flags: ${gatewayFlags.join(" ") || "none"}; ` +
      (values["node-head"] ? "backend heads as node:http's; " : "") +
      (pinning ? `gateway on core ${values["proxy-core"]}, backend and wrk on ${values["load-core"]}` : "no pinning"),
  );
  if (warmupS > 0) runWrk({ url, seconds: warmupS, connections, core: values["load-core"] });
  const rows: { bytes: number; scavenges: number; cpuUs: number; requests: number }[] = [];
  for (let i = 1; i <= runs; i++) {
    let errors = 0;
    const { probe, requests } = await window(() => {
      const r = runWrk({ url, seconds: durationS, connections, core: values["load-core"] });
      errors = r.errors;
      return r.requests;
    });
    if (errors > 0) throw new Error(`wrk saw ${errors} errors or non-2xx answers`);
    if (!(requests > 0)) throw new Error("wrk completed no requests");
    const scavenges = probe.gcs.Scavenge ?? 0;
    const row = {
      bytes: probe.allocatedBytes / requests,
      scavenges: (scavenges / requests) * 10_000,
      cpuUs: probe.cpuUs / requests,
      requests,
    };
    rows.push(row);
    const others = Object.entries(probe.gcs)
      .filter(([k]) => k !== "Scavenge")
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
    log(
      `run ${i}: ${requests} requests, ${row.bytes.toFixed(0)} B/request, ${row.scavenges.toFixed(2)} scavenges/10k, ` +
        `${row.cpuUs.toFixed(1)} µs CPU/request, GC pause ${(probe.gcPauseUs / 1000).toFixed(1)} ms` +
        (others ? ` (also ${others})` : ""),
    );
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log("");
  console.log(
    `gateway: ${median(rows.map((r) => r.bytes)).toFixed(0)} B allocated/request, ` +
      `${median(rows.map((r) => r.scavenges)).toFixed(2)} scavenges/10k requests, ` +
      `${median(rows.map((r) => r.cpuUs)).toFixed(1)} µs CPU/request (median of ${runs})`,
  );
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
