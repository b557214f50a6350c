import { Pool } from "undici";
import { StoreCluster } from "../test/support/store-cluster.ts";

const n = Number(process.argv[2] ?? 3);
const conc = Number(process.argv[3] ?? 32);
const durMs = Number(process.env.DUR ?? 4000);
await using c = new StoreCluster({
  sites: [{ name: "a", octet: 179, lat: 0, lon: 0, nodes: n }],
  partitions: 64,
  rf: n,
});
await c.startAll();
const pools = c.nodesOf("a").map((id) => new Pool(c.url(id), { connections: conc }));
let ops = 0;
let run = true;
const t = performance.now();
await Promise.all(
  Array.from({ length: conc }, async (_, w) => {
    let i = 0;
    while (run) {
      const r = await pools[w % pools.length].request({
        method: "PUT",
        path: `/v1/kv/k${w}-${i % 500}`,
        body: JSON.stringify({ value: i }),
        headers: { "content-type": "application/json", "idempotency-key": `w${w}-${i}` },
      });
      await r.body.dump();
      i++;
      ops++;
      if (performance.now() - t > durMs) run = false;
    }
  }),
);
console.log(`${n} nodes, ${conc} conc: ${(ops / ((performance.now() - t) / 1000)).toFixed(0)} puts/s`);
await Promise.all(pools.map((p) => p.close()));
