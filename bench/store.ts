// `npm run bench:store`: the store's local-quorum put and get (3 nodes of one site, each
// its own process, loopback) beside redis-server's SET and GET (Debian package, started
// here) in the same run, same connections, one request in flight per connection. Prints
// ops/s, p50/p99 and the ratio. Flags: --connections N --seconds S.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { launch } from "../src/core/index.ts";
import { StoreCluster } from "../test/support/store-cluster.ts";
import { formatRow, type LoadResult, runLoad } from "./load.ts";
import { RespConnection } from "./resp-client.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "32" },
    seconds: { type: "string", default: "10" },
    keys: { type: "string", default: "10000" },
  },
});
const connections = Number(values.connections);
const durationS = Number(values.seconds);
const keyspace = Number(values.keys);
const value = "x".repeat(100);

console.log(`bench:store — ${connections} connections, one request in flight each, ${durationS} s per run`);
console.log("starting 3 store nodes (one site) and redis-server…");
const cluster = new StoreCluster({ sites: [{ name: "bench", octet: 170, lat: 0, lon: 0 }], partitions: 64 });
const redisDir = mkdtempSync(join(tmpdir(), "redshirt-redis-"));
const results: LoadResult[] = [];
const pools: Pool[] = [];
try {
  await cluster.startAll();
  const redis = await launch({
    name: "redis-server",
    command: "redis-server",
    args: ["--bind", "127.170.9.1", "--port", "6399", "--save", "", "--appendonly", "no", "--dir", redisDir],
    isReady: (line) => line.includes("Ready to accept connections"),
  });
  try {
    const nodes = cluster.nodesOf("bench").map((id) => cluster.url(id));
    for (const url of nodes) pools.push(new Pool(url, { connections: connections, pipelining: 1 }));
    // Every node replicates every partition here (3 nodes, rf 3), so spreading requests
    // over the nodes is what the client's routing does.
    const storeWorker = (op: "put" | "get") => async (w: number) => async (i: number) => {
      const pool = pools[w % pools.length];
      const key = `k${(i * 7919) % keyspace}`;
      const res =
        op === "put"
          ? await pool.request({
              method: "PUT",
              path: `/v1/kv/${key}`,
              headers: { "content-type": "application/json", "idempotency-key": `b${w}-${i}` },
              body: JSON.stringify({ value }),
            })
          : await pool.request({ method: "GET", path: `/v1/kv/${key}` });
      await res.body.dump();
      if (res.statusCode >= 300 && !(op === "get" && res.statusCode === 404)) throw new Error(`HTTP ${res.statusCode}`);
    };
    const redisWorker = (op: "SET" | "GET") => async () => {
      const conn = await RespConnection.open("127.170.9.1", 6399);
      return async (i: number) => {
        const key = `k${(i * 7919) % keyspace}`;
        if (op === "SET") await conn.command("SET", key, value);
        else await conn.command("GET", key);
      };
    };
    results.push(await runLoad("store put (local-quorum)", { connections, durationS }, storeWorker("put")));
    results.push(await runLoad("redis SET", { connections, durationS }, redisWorker("SET")));
    results.push(await runLoad("store get (local-quorum)", { connections, durationS }, storeWorker("get")));
    results.push(await runLoad("redis GET", { connections, durationS }, redisWorker("GET")));
  } finally {
    await redis.stop();
  }
} finally {
  await Promise.all(pools.map((p) => p.close()));
  await cluster[Symbol.asyncDispose]();
  rmSync(redisDir, { recursive: true, force: true });
}

console.log("");
for (const r of results) console.log(formatRow(r));
const [put, set, get, rget] = results;
if (put && set && get && rget) {
  console.log("");
  console.log(
    `ratio put/SET: ${(put.opsPerS / set.opsPerS).toFixed(2)}×   get/GET: ${(get.opsPerS / rget.opsPerS).toFixed(2)}×`,
  );
}
process.exit(0);
