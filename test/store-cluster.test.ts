// The store as real processes: 3 sites × 3 store nodes on loopback. A writer makes
// `global` writes while store nodes are SIGKILLed and restarted and then a whole site is
// killed; afterwards every acknowledged write is readable from every site (the dead site
// brought back) and the anti-entropy trees of all replicas agree.
// Addresses: 127.150.0.0/16 – 127.152.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { test } from "node:test";
import { request } from "undici";
import { createStoreClient } from "../src/store/index.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const writeBudgetMs = 9_000;
const writesMax = 4_000;

test("store cluster - global writes survive SIGKILLed nodes and a lost site, then every site reads them all", async (t) => {
  await using cluster = new StoreCluster({
    sites: [
      { name: "nyc", octet: 150, lat: 40.71, lon: -74.01 },
      { name: "lon", octet: 151, lat: 51.51, lon: -0.13 },
      { name: "sin", octet: 152, lat: 1.35, lon: 103.82 },
    ],
    partitions: 16,
  });
  await cluster.startAll();
  const writer = createStoreClient({ planet: cluster.planet, site: "nyc", consistency: "global", timeoutMs: 4_000 });
  const acked: number[] = [];
  let failed = 0;
  let writing = true;
  const started = Date.now();

  const writes = (async () => {
    for (let i = 0; writing && i < writesMax && Date.now() - started < writeBudgetMs; i++) {
      try {
        await writer.set(`w${i}`, i);
        acked.push(i);
      } catch {
        failed++;
      }
    }
  })();

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // The nemesis: SIGKILL a node in each site in turn and bring it back, then lose a whole site.
  for (const node of ["lon-store2", "nyc-store1", "sin-store3", "nyc-store3"]) {
    await sleep(700);
    await cluster.kill(node);
    await sleep(700);
    await cluster.start(node);
  }
  for (const node of cluster.nodesOf("sin")) await cluster.kill(node);
  await sleep(2_000);
  writing = false;
  await writes;
  await writer.close();
  assert.ok(acked.length > 200, `only ${acked.length} writes acknowledged (${failed} failed)`);

  t.diagnostic(`${acked.length} global writes acknowledged, ${failed} failed while nodes and a site were down`);
  // The lost site comes back; hints and anti-entropy bring it up to date.
  for (const node of cluster.nodesOf("sin")) await cluster.start(node);
  const backAt = Date.now();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const views = await Promise.all(
      cluster.planet.storeNodes.map(async (n) => {
        const res = await request(`${cluster.url(n.id)}/v1/trees`);
        return ((await res.body.json()) as { roots: number[] }).roots;
      }),
    );
    if (views.every((roots) => JSON.stringify(roots) === JSON.stringify(views[0]))) {
      t.diagnostic(`all 9 replicas' hash trees agree ${Date.now() - backAt} ms after the lost site came back`);
      break;
    }
    assert.ok(Date.now() < deadline, "anti-entropy trees did not converge within 60 s");
    await sleep(500);
  }

  // A healthy run: nothing failed inside any node (bad messages, hints, chores, anti-entropy).
  for (const n of cluster.planet.storeNodes) {
    const text = await (await request(`${cluster.url(n.id)}/metrics`)).body.text();
    const errors = [...text.matchAll(/^redshirt_store_internal_errors_total(\{[^}]*\})? (\d+)$/gm)].filter(
      (m) => m[2] !== "0",
    );
    assert.deepEqual(
      errors.map((m) => m[0]),
      [],
      `${n.id} counted internal errors`,
    );
  }

  for (const site of ["nyc", "lon", "sin"]) {
    const reader = createStoreClient({ planet: cluster.planet, site, consistency: "local-quorum", timeoutMs: 5_000 });
    const missing: number[] = [];
    for (const i of acked) {
      const r = await reader.get(`w${i}`);
      if (r.value !== i) missing.push(i);
    }
    await reader.close();
    assert.deepEqual(
      missing.slice(0, 20),
      [],
      `${site}: ${missing.length} of ${acked.length} acknowledged writes missing`,
    );
  }
});
