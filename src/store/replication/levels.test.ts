// Each level's promise with replicas down (docs/store.md, "Consistency levels"): a hint
// counts toward local-quorum, never toward `all`; a local-quorum read merges the hints the
// site's fallbacks hold, so it sees a write acknowledged through one; a level that cannot
// be reached with the replicas a node sees up fails at once with RS_ERR_STORE_CONSISTENCY,
// before anything is applied. Deterministic: simulated network and clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";
import { partitionOf, replicasOf } from "./partition.ts";

const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
const others = ["lon-store1", "lon-store2", "lon-store3", "sin-store1", "sin-store2", "sin-store3"];
const code = (r: { ok: boolean; error?: unknown }) => (!r.ok && (r.error as { code?: string }).code) || "ok";

async function start(yaml: string, seed: number): Promise<SimCluster> {
  const c = new SimCluster({ planet: parsePlanet(yaml), seed });
  await c.startAll();
  await c.advance(1_000);
  return c;
}

/** One site of four nodes, rf 3: three replicas of a key and one fallback. */
const fourYaml =
  "name: levels\nzone: l.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0, tiers: { store: 4 } }\nstore: { partitions: 8, rf: 3 }\n";
function roles(c: SimCluster, key: string) {
  const ids = c.planet.storeNodes.map((n) => n.id);
  const [a, b, cc] = replicasOf(partitionOf(key, c.planet.store.partitions), ids, c.planet.store.rf);
  const f = ids.find((id) => ![a, b, cc].includes(id))!;
  return { a, b, c: cc, f };
}

test("levels - all fails at once with one replica down, even with a fallback to take a hint, and applies nothing", async () => {
  const c = await start(fourYaml, 41);
  const key = "all-key";
  const { a, b } = roles(c, key);
  c.crash(b);
  await c.advance(1_000);
  const t0 = c.clock.monoMs();
  const w = await c.settle(
    c.mutate(a, { key, mutation: { kind: "set", value: 1 }, opId: "all-1", consistency: "all", timeoutMs: 5_000 }),
  );
  assert.equal(code(w), "RS_ERR_STORE_CONSISTENCY");
  assert.ok(c.clock.monoMs() - t0 < 100, `failed after ${c.clock.monoMs() - t0} ms, not at the 5 s timeout`);
  assert.equal((w as { error: { detail?: { applied?: boolean } } }).error.detail?.applied, false);
  const r = await c.settle(c.read(a, { key, consistency: "local-one" }));
  assert.ok(r.ok);
  assert.equal(r.value.value.exists, false, "nothing was applied");
  // The same in a planet of three sites: one replica of another site down is enough.
  const p = await start(simPlanetYaml, 42);
  p.crash("lon-store2");
  await p.advance(1_000);
  const all = await p.settle(
    p.mutate("nyc-store1", { key, mutation: { kind: "incr", by: 1 }, opId: "all-2", consistency: "all" }),
  );
  assert.equal(code(all), "RS_ERR_STORE_CONSISTENCY");
  await c.stopAll();
  await p.stopAll();
});

test("levels - a local-quorum read sees a write acknowledged through a hint, from the fallback that holds it", async () => {
  const c = await start(fourYaml, 43);
  const key = "hinted-key";
  const { a, b, c: third, f } = roles(c, key);
  // B is down and C cannot hear A: the write is acknowledged by A and a hint for B at F.
  c.crash(b);
  c.network.partition([a], [third]);
  await c.advance(1_000);
  const w = await c.settle(
    c.mutate(a, { key, mutation: { kind: "set", value: 42 }, opId: "h1", consistency: "local-quorum" }),
  );
  assert.ok(w.ok, String(!w.ok && w.error.message));
  assert.ok(
    c.nodes
      .get(f)!
      .storage.readLog(0, 100)
      .some((e) => e.key === key && e.targets[0] === b),
  );
  // A dies for good; B comes back but F cannot deliver the hint to it yet.
  c.crash(a);
  c.network.heal();
  c.network.partition([f], [b]);
  await c.restart(b);
  // F restarts too: its hint index is rebuilt from its log.
  c.crash(f);
  await c.restart(f);
  await c.advance(1_000);
  for (const id of [b, third]) assert.equal(c.nodes.get(id)!.storage.getKey(key), undefined, `${id} lacks the write`);
  const r = await c.settle(c.read(third, { key, consistency: "local-quorum" }));
  assert.ok(r.ok, String(!r.ok && r.error.message));
  assert.deepEqual(r.value.value, { exists: true, type: "reg", value: 42 }, "the hint at F is merged in");
  assert.equal(c.nodes.get(f)!.storage.getKey(key), undefined, "the fallback keeps hints, not the key");
  await c.stopAll();
});

test("levels - global fails at once, well under its timeout, when no other site answers; reads too", async () => {
  const c = await start(simPlanetYaml, 44);
  c.network.partition(nyc, others);
  await c.advance(2_000);
  const t0 = c.clock.monoMs();
  const w = await c.settle(
    c.mutate("nyc-store1", {
      key: "g",
      mutation: { kind: "incr", by: 1 },
      opId: "g1",
      consistency: "global",
      timeoutMs: 5_000,
    }),
  );
  assert.equal(code(w), "RS_ERR_STORE_CONSISTENCY");
  const r = await c.settle(c.read("nyc-store2", { key: "g", consistency: "global", timeoutMs: 5_000 }));
  assert.equal(code(r), "RS_ERR_STORE_CONSISTENCY");
  assert.ok(c.clock.monoMs() - t0 < 100, `failed after ${c.clock.monoMs() - t0} ms`);
  // local-quorum is still served inside the cut-off site.
  const lq = await c.settle(
    c.mutate("nyc-store1", { key: "g", mutation: { kind: "incr", by: 1 }, opId: "g2", consistency: "local-quorum" }),
  );
  assert.ok(lq.ok, String(!lq.ok && lq.error.message));
  await c.stopAll();
});
