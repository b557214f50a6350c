// `npm run bench:store`: the store's local-quorum put and get (3 nodes of one site, each its
// own process, loopback, the TypeScript client over the binary protocol) beside redis-server's
// SET and GET (Debian package, started here) in the same run, with the same number of
// callers, each with one operation in flight. Also Redis with two replicas and `WAIT 1` after
// each SET (the like-for-like peer: acknowledged once a second copy holds it), the CPU per
// acknowledged operation over every process involved (this one included), and — on a planet
// of 3 sites — the WAN bytes per write sent to each remote site. Prints ops/s, p50/p99 and
// the ratios. Flags: --connections N (callers) --seconds S --keys K --http (the store over
// HTTP+JSON instead) --no-wan --only put,set,wait,get,rget (the runs to do, e.g. to profile one)
// --random-values (the WAN run writes random values, each its own, instead of the default's
// 100 × "x": what the relays' deflate cannot squeeze).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Launched, launch } from "../src/core/index.ts";
import { createStoreClient, type StoreClient } from "../src/store/index.ts";
import { StoreCluster } from "../test/support/store-cluster.ts";
import { formatRow, type LoadResult, runLoad, sleep } from "./load.ts";
import { RespConnection } from "./resp-client.ts";
import { measureWanBytes } from "./store-wan.ts";
import { cpuSeconds } from "./support/proc-cpu.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
    keys: { type: "string", default: "10000" },
    http: { type: "boolean", default: false },
    "no-wan": { type: "boolean", default: false },
    "random-values": { type: "boolean", default: false },
    only: { type: "string", default: "put,set,wait,get,rget" },
  },
});
const connections = Number(values.connections);
const durationS = Number(values.seconds);
const keyspace = Number(values.keys);
const protocol = values.http ? "http" : "binary";
const value = "x".repeat(100);
const only = new Set(values.only.split(","));
const redisHost = "127.185.9.1";
const redisPort = 6399;

type Row = LoadResult & { cpuMsPerOp: number; marginalCpuMsPerOp: number; clientCpuMsPerOp: number };

/** CPU seconds per second the servers' processes use while idle (ticks, heartbeats, anti-entropy). */
const idleCpuPerS = new Map<string, number>();

console.log(
  `bench:store — ${connections} callers, one operation in flight each, ${durationS} s per run; store client: ${protocol}`,
);
console.log("starting 3 store nodes (one site), redis-server and two redis replicas…");
const cluster = new StoreCluster({ sites: [{ name: "bench", octet: 185, lat: 0, lon: 0 }], partitions: 64 });
const redisDir = mkdtempSync(join(tmpdir(), "redshirt-redis-"));
const rows: Row[] = [];
const redises: Launched[] = [];
let client: StoreClient | undefined;

function startRedis(port: number, extra: string[]): Promise<Launched> {
  const dir = join(redisDir, String(port));
  mkdirSync(dir);
  return launch({
    name: `redis-server ${port}`,
    command: "redis-server",
    args: ["--bind", redisHost, "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir, ...extra],
    isReady: (line) =>
      line.includes("Ready to accept connections") || line.includes("MASTER <-> REPLICA sync: Finished"),
  });
}

async function measured(
  run: string,
  name: string,
  pids: () => number[],
  makeWorker: (w: number) => Promise<(i: number) => Promise<void>>,
): Promise<void> {
  if (!only.has(run)) return;
  const all = () => [process.pid, ...pids()];
  const before = cpuSeconds(all());
  const clientBefore = cpuSeconds([process.pid]);
  const r = await runLoad(name, { connections, durationS }, makeWorker);
  const clientCpu = cpuSeconds([process.pid]) - clientBefore;
  // The CPU of the warm-up second counts too, so divide by every op done in the run,
  // estimated from the measured rate over warm-up plus measurement.
  const cpu = cpuSeconds(all()) - before;
  const opsInRun = r.opsPerS * (r.seconds + 1);
  const idle = (idleCpuPerS.get(run === "put" || run === "get" ? "store" : "redis") ?? 0) * (r.seconds + 1);
  rows.push({
    ...r,
    cpuMsPerOp: (cpu * 1000) / Math.max(1, opsInRun),
    marginalCpuMsPerOp: (Math.max(0, cpu - idle) * 1000) / Math.max(1, opsInRun),
    clientCpuMsPerOp: (clientCpu * 1000) / Math.max(1, opsInRun),
  });
}

/** The group commits of every store node so far (their /metrics). */
async function storeCommits(): Promise<number> {
  let total = 0;
  for (const n of cluster.planet.storeNodes) {
    const text = await (await fetch(`${cluster.url(n.id)}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith("redshirt_store_commits_total"));
    total += Number(line?.split(" ").at(-1) ?? 0);
  }
  return total;
}

try {
  await cluster.startAll();
  redises.push(await startRedis(redisPort, []));
  redises.push(await startRedis(redisPort + 1, ["--replicaof", redisHost, String(redisPort)]));
  redises.push(await startRedis(redisPort + 2, ["--replicaof", redisHost, String(redisPort)]));
  const storePids = () => [...cluster.processes.values()].map((p) => p.pid);
  // What the servers burn doing nothing, measured once, so the marginal CPU of an op can be told apart.
  const idleS = 3;
  const idle0 = [cpuSeconds(storePids()), cpuSeconds(redises.map((p) => p.pid))];
  await sleep(idleS * 1000);
  idleCpuPerS.set("store", (cpuSeconds(storePids()) - idle0[0]) / idleS);
  idleCpuPerS.set("redis", (cpuSeconds(redises.map((p) => p.pid)) - idle0[1]) / idleS);
  console.log(
    `idle CPU: store nodes ${(idleCpuPerS.get("store")! * 1000).toFixed(0)} ms/s, redis ${(idleCpuPerS.get("redis")! * 1000).toFixed(0)} ms/s`,
  );
  client = createStoreClient({ planet: cluster.planet, site: "bench", consistency: "local-quorum", protocol });
  const store = client;
  const keyOf = (i: number) => `k${(i * 7919) % keyspace}`;
  const redisWorker = (op: "SET" | "GET" | "SET+WAIT") => async () => {
    const conn = await RespConnection.open(redisHost, redisPort);
    return async (i: number) => {
      if (op === "GET") {
        await conn.command("GET", keyOf(i));
        return;
      }
      await conn.command("SET", keyOf(i), value);
      if (op === "SET+WAIT") {
        const acked = await conn.command("WAIT", "1", "1000");
        if (acked !== "1" && acked !== "2") throw new Error(`WAIT 1 answered ${acked}`);
      }
    };
  };
  const redisPids = (replicas: boolean) => (replicas ? redises : redises.slice(0, 1)).map((p) => p.pid);
  const commitsBefore = await storeCommits();
  await measured("put", "store put (local-quorum)", storePids, async (w) => async (i) => {
    await store.put(keyOf(i), value, { opId: `b${w}-${i}-${process.pid}` });
  });
  const putRow = rows.find((r) => r.name === "store put (local-quorum)");
  if (putRow) {
    const commits = (await storeCommits()) - commitsBefore;
    console.log(
      `  SQLite commits over the 3 nodes: ${(commits / (putRow.opsPerS * (putRow.seconds + 1))).toFixed(2)} per put`,
    );
  }
  await measured("set", "redis SET", () => redisPids(true), redisWorker("SET"));
  await measured("wait", "redis SET + WAIT 1", () => redisPids(true), redisWorker("SET+WAIT"));
  await measured("get", "store get (local-quorum)", storePids, async () => async (i) => {
    await store.get(keyOf(i));
  });
  await measured("rget", "redis GET", () => redisPids(false), redisWorker("GET"));
} finally {
  await client?.close();
  await Promise.all(redises.map((r) => r.stop()));
  await cluster[Symbol.asyncDispose]();
  rmSync(redisDir, { recursive: true, force: true });
}

console.log("");
console.log(
  "(CPU per op: user + system time of every process involved, this client included; marginal: less the servers' idle CPU)",
);
for (const r of rows) {
  console.log(
    `${formatRow(r)}   CPU ${(r.cpuMsPerOp * 1000).toFixed(0).padStart(5)} µs/op (marginal ${(r.marginalCpuMsPerOp * 1000).toFixed(0)}, this client ${(r.clientCpuMsPerOp * 1000).toFixed(0)})`,
  );
}
const by = (name: string) => rows.find((r) => r.name === name);
const put = by("store put (local-quorum)");
const set = by("redis SET");
const wait = by("redis SET + WAIT 1");
const get = by("store get (local-quorum)");
const rget = by("redis GET");
if (put && set && wait && get && rget) {
  console.log("");
  console.log(
    `ratio put/SET: ${(put.opsPerS / set.opsPerS).toFixed(2)}×   put/(SET+WAIT 1): ${(put.opsPerS / wait.opsPerS).toFixed(2)}×   get/GET: ${(get.opsPerS / rget.opsPerS).toFixed(2)}×`,
  );
  console.log(
    `CPU per op, store/redis: put ${(put.cpuMsPerOp / set.cpuMsPerOp).toFixed(1)}× SET, ${(put.cpuMsPerOp / wait.cpuMsPerOp).toFixed(1)}× SET+WAIT 1; get ${(get.cpuMsPerOp / rget.cpuMsPerOp).toFixed(1)}× GET`,
  );
  console.log(
    `marginal CPU per op, store/redis: put ${(put.marginalCpuMsPerOp / set.marginalCpuMsPerOp).toFixed(1)}× SET, ${(put.marginalCpuMsPerOp / wait.marginalCpuMsPerOp).toFixed(1)}× SET+WAIT 1; get ${(get.marginalCpuMsPerOp / rget.marginalCpuMsPerOp).toFixed(1)}× GET`,
  );
}

if (!values["no-wan"]) {
  console.log("");
  const randomValues = values["random-values"];
  console.log(
    `WAN bytes per write: 3 sites × 3 nodes, local-quorum puts in site a${randomValues ? ", random values" : ""}…`,
  );
  const wan = await measureWanBytes({
    value,
    randomValues,
    keyspace,
    protocol,
    seconds: Math.max(3, Math.min(durationS, 5)),
  });
  for (const site of wan.sites) {
    console.log(
      `  to site ${site.name}: ${site.bytesPerWrite.toFixed(0)} bytes/write = ${(site.bytesPerWrite / wan.keyValueBytes).toFixed(2)}× key+value (${wan.keyValueBytes} bytes; goal ≤ 1.2×)`,
    );
  }
  console.log(`  (${wan.writes} writes; background traffic of an idle window of the same length subtracted)`);
}
process.exit(0);
