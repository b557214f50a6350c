// Anti-entropy alone must bring replicas together: the coordinators that took the writes are
// dead (their logs can never stream), so only rounds between the survivors carry the ops, both
// ways and across sites. Deterministic: simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
const lon = ["lon-store1", "lon-store2", "lon-store3"];
const sin = ["sin-store1", "sin-store2", "sin-store3"];

async function writeMany(c: SimCluster, node: string, prefix: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 200) {
    const batch = [];
    for (let i = from; i < Math.min(n, from + 200); i++) {
      const mutation =
        i % 3 === 0
          ? ({ kind: "incr", by: 2 } as const)
          : i % 3 === 1
            ? ({ kind: "sadd", members: [`m${i}`] } as const)
            : ({ kind: "set", value: { i } } as const);
      batch.push(
        c.mutate(node, { key: `${prefix}${i}`, mutation, opId: `${prefix}-op${i}`, consistency: "local-quorum" }),
      );
    }
    const results = await c.settle(Promise.all(batch));
    for (const r of results) assert.ok(r.ok, `write at ${node} failed: ${!r.ok && r.error.message}`);
  }
}

function rootsAgree(c: SimCluster, nodes: readonly string[]): boolean {
  const first = JSON.stringify(c.engine(nodes[0])!.treeRoots());
  return nodes.every((n) => JSON.stringify(c.engine(n)!.treeRoots()) === first);
}

test("anti-entropy - alone carries thousands of keys both ways across sites when the coordinators' logs are lost", async (t) => {
  const c = new SimCluster({ planet: parsePlanet(simPlanetYaml), seed: 5 });
  await c.startAll();
  await c.advance(1_000);
  const n = 2_000;
  // nyc is cut off: its writes reach only its own site; lon's reach lon and sin.
  c.network.partition(nyc, [...lon, ...sin]);
  await writeMany(c, "nyc-store1", "n", n);
  await writeMany(c, "lon-store1", "l", n);
  await c.advance(500);
  // Both coordinators die for good: nothing can stream from their logs any more.
  c.crash("nyc-store1");
  c.crash("lon-store1");
  c.network.heal();
  const live = [...nyc, ...lon, ...sin].filter((id) => c.isRunning(id));
  const healedMs = c.clock.monoMs();
  const wallStart = performance.now();
  let waited = 0;
  while (!rootsAgree(c, live) && waited < 60_000) {
    await c.advance(100);
    waited += 100;
  }
  const tookMs = c.clock.monoMs() - healedMs;
  t.diagnostic(
    `${2 * n} keys converged on ${live.length} replicas ${tookMs} ms (simulated) after healing, ${Math.round(performance.now() - wallStart)} ms of wall time`,
  );
  assert.ok(rootsAgree(c, live), "replicas still differ 60 s of simulated time after healing");
  // Every survivor reads every acknowledged write, from its own copy.
  for (const id of ["nyc-store2", "lon-store3", "sin-store1"]) {
    for (const [prefix, i] of [
      ["n", 0],
      ["n", 1],
      ["n", n - 1],
      ["l", 3],
      ["l", 1_000],
      ["l", n - 2],
    ] as const) {
      const r = await c.settle(c.read(id, { key: `${prefix}${i}`, consistency: "local-one" }));
      assert.ok(r.ok && r.value.value.exists, `${id} lacks ${prefix}${i}`);
    }
  }
  for (const id of live) {
    const text = c.engine(id)!.metricsText();
    assert.equal(c.engine(id)!.internalErrors, 0, `${id} counted internal errors:\n${text}`);
    assert.match(text, /redshirt_store_anti_entropy_keys_total\{direction="received"\} [1-9]/);
  }
  // 2 x 2,000 keys to 6 or 7 replicas each, at simulated LAN/WAN latency: seconds, not minutes.
  assert.ok(tookMs < 20_000, `convergence took ${tookMs} ms of simulated time`);
  await c.stopAll();
});
