// The engine's promises that the random simulation does not pin one by one: read your
// writes across a failover with a session token, and clear errors instead of silent
// downgrades when a level cannot be met. Deterministic: simulated network and clock.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";
import { partitionOf, replicasOf } from "./partition.ts";

async function cluster(seed: number): Promise<SimCluster> {
  const c = new SimCluster({ planet: parsePlanet(simPlanetYaml), seed });
  await c.startAll();
  await c.advance(1_000);
  return c;
}

const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
const others = ["lon-store1", "lon-store2", "lon-store3", "sin-store1", "sin-store2", "sin-store3"];

test("engine - a session token makes a read in another site wait for the session's write, never return older data", async () => {
  const c = await cluster(11);
  c.network.partition(nyc, others);
  const w = await c.settle(
    c.mutate("nyc-store1", {
      key: "cart",
      mutation: { kind: "set", value: "v1" },
      opId: "w1",
      consistency: "local-quorum",
    }),
  );
  assert.ok(w.ok, "local-quorum is met inside the cut-off site");
  const token = w.value.token;
  // Without the token, London answers with what it has: nothing yet.
  const plain = await c.settle(c.read("lon-store1", { key: "cart", consistency: "local-quorum" }));
  assert.ok(plain.ok);
  assert.equal(plain.value.value.exists, false);
  // With it, London refuses to answer from replicas that lack the write.
  const stale = await c.settle(
    c.read("lon-store1", { key: "cart", consistency: "local-quorum", token, timeoutMs: 1_500 }),
  );
  assert.ok(!stale.ok);
  assert.match((stale.error as { code?: string }).code ?? "", /RS_ERR_STORE_(STALE|CONSISTENCY)/);
  c.network.heal();
  // The read asks each replica once: let the links come back first (how soon depends on the seed).
  for (let i = 0; i < 50 && c.engine("lon-store1")!.health().peersDown.length > 0; i++) await c.advance(100);
  const fresh = await c.settle(
    c.read("lon-store1", { key: "cart", consistency: "local-quorum", token, timeoutMs: 3_000 }),
  );
  assert.ok(fresh.ok, String(!fresh.ok && fresh.error.message));
  assert.deepEqual(fresh.value.value, { exists: true, type: "reg", value: "v1" });
  await c.stopAll();
});

test("engine - a global write with every other site cut off fails with RS_ERR_STORE_CONSISTENCY, and is applied once healed", async () => {
  const c = await cluster(12);
  c.network.partition(nyc, others);
  const w = await c.settle(
    c.mutate("nyc-store2", {
      key: "order",
      mutation: { kind: "incr", by: 5 },
      opId: "o1",
      consistency: "global",
      timeoutMs: 1_000,
    }),
  );
  assert.ok(!w.ok);
  assert.equal((w.error as { code?: string }).code, "RS_ERR_STORE_CONSISTENCY");
  c.network.heal();
  // The client retries with the same op id: it counts once.
  const retry = await c.settle(
    c.mutate("nyc-store1", { key: "order", mutation: { kind: "incr", by: 5 }, opId: "o1", consistency: "global" }),
  );
  assert.ok(retry.ok, String(!retry.ok && retry.error.message));
  await c.advance(3_000);
  for (const id of [...nyc, ...others]) {
    const r = await c.settle(c.read(id, { key: "order", consistency: "local-one" }));
    assert.ok(r.ok);
    assert.equal(r.value.value.value, 5, `${id} counts the op once`);
  }
  await c.stopAll();
});

test("engine - bad requests get their codes: key too long, unknown consistency", async () => {
  const c = await cluster(13);
  const long = await c.settle(c.read("nyc-store1", { key: "k".repeat(1025), consistency: "local-one" }));
  assert.equal(!long.ok && (long.error as { code?: string }).code, "RS_ERR_STORE_KEY_TOO_LARGE");
  const bad = await c.settle(c.read("nyc-store1", { key: "k", consistency: "most" as never }));
  assert.equal(!bad.ok && (bad.error as { code?: string }).code, "RS_ERR_STORE_BAD_CONSISTENCY");
  await c.stopAll();
});

/**
 * One site of four nodes (rf 3): two of `key`'s replicas crash, and its third coordinates a
 * local-quorum write of `value`, acknowledged with a hint held by the site's fourth node.
 */
async function writeThroughHint(seed: number, key: string, value: number, opId: string) {
  const planet = parsePlanet(
    "name: sloppy\nzone: s.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0, tiers: { store: 4 } }\nstore: { partitions: 8, rf: 3 }\n",
  );
  const c = new SimCluster({ planet, seed });
  await c.startAll();
  await c.advance(1_000);
  const ids = planet.storeNodes.map((n) => n.id);
  const replicas = replicasOf(partitionOf(key, planet.store.partitions), ids, planet.store.rf);
  const fallback = ids.find((id) => !replicas.includes(id))!;
  const [coordinator, downA, downB] = replicas as [string, string, string];
  c.crash(downA);
  c.crash(downB);
  await c.advance(500);
  const w = await c.settle(
    c.mutate(coordinator, { key, mutation: { kind: "set", value }, opId, consistency: "local-quorum" }),
  );
  assert.ok(w.ok, String(!w.ok && w.error.message));
  return { c, fallback, coordinator, downA, downB };
}

test("engine - sloppy quorum: with two of three replicas down, a fallback node of the site holds a hint and the write is acknowledged", async () => {
  const key = "sloppy-key";
  const { c, fallback, downA, downB } = await writeThroughHint(21, key, 42, "s1");
  const hints = c.nodes
    .get(fallback)!
    .storage.readLog(0, 100)
    .filter((e) => e.key === key);
  assert.ok(hints.length >= 1, "the fallback keeps a hint");
  assert.ok(hints.every((e) => e.targets.length === 1 && [downA, downB].includes(e.targets[0])));
  await c.restart(downA);
  await c.restart(downB);
  await c.advance(3_000);
  for (const id of [downA, downB]) {
    const r = await c.settle(c.read(id, { key, consistency: "local-one" }));
    assert.ok(r.ok);
    assert.equal(r.value.value.value, 42, `${id} got the write after it came back`);
  }
  await c.stopAll();
});

test("engine - hints alone: a write held by a fallback reaches the replicas that were down, with its coordinator dead, and the fallback's log lets the hint go", async () => {
  const key = "hinted-key";
  const { c, fallback, coordinator, downA, downB } = await writeThroughHint(22, key, 7, "h1");
  // The coordinator dies for good: its own log and state are gone from the game, so the
  // only copy that can reach the two replicas is the fallback's hint (anti-entropy runs
  // between replicas, and neither of them has it).
  c.crash(coordinator);
  const hintsOf = () =>
    c.nodes
      .get(fallback)!
      .storage.readLog(0, 1_000)
      .filter((e) => e.key === key);
  assert.ok(hintsOf().length >= 1, "the fallback holds the hint");
  await c.restart(downA);
  await c.restart(downB);
  await c.advance(5_000);
  for (const id of [downA, downB]) {
    const r = await c.settle(c.read(id, { key, consistency: "local-one" }));
    assert.ok(r.ok, String(!r.ok && r.error.message));
    assert.equal(r.value.value.value, 7, `${id} got the write from the hint`);
  }
  assert.deepEqual(hintsOf(), [], "delivered hints leave the fallback's log (truncation by the tick)");
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});

// Eight store nodes per site, three replicas per partition: two keys may share no replica
// outside their coordinator's site, so those replicas of one key never hear of a write to
// the other — as in a planet larger than its replication factor.
const widePlanetYaml = `
name: wide
zone: wide.test.
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, tiers: { store: 8 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, tiers: { store: 8 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.82, tiers: { store: 8 } }
store: { partitions: 64, rf: 3 }
`;

test("engine - a session's global write survives its site's loss right after the ack: another site answers the session's reads of other keys from a majority of each live site, and a local-quorum write still makes them wait", async () => {
  const planet = parsePlanet(widePlanetYaml);
  const idsOf = (site: string) => planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
  const replicasIn = (key: string, site: string) =>
    replicasOf(partitionOf(key, planet.store.partitions), idsOf(site), planet.store.rf);
  // A cart and a session key whose replicas in London and in Singapore are apart.
  const cart = "cart:alice";
  let session = "";
  for (let i = 0; i < 10_000 && session === ""; i++) {
    const k = `session:${i}`;
    const apart = ["lon", "sin"].every((s) => !replicasIn(k, s).some((n) => replicasIn(cart, s).includes(n)));
    if (apart) session = k;
  }
  assert.ok(session !== "", "two keys with no replica in common outside New York");
  const coordinator = replicasIn(cart, "nyc")[0];
  const c = new SimCluster({ planet, seed: 21 });
  await c.startAll();
  await c.advance(1_000);
  const nycAll = idsOf("nyc");
  const lonAll = idsOf("lon");
  const sinAll = idsOf("sin");
  const login = await c.settle(
    c.mutate(replicasIn(session, "nyc")[0], {
      key: session,
      mutation: { kind: "set", value: "alice" },
      opId: "s1",
      consistency: "global",
    }),
  );
  assert.ok(login.ok, String(!login.ok && login.error.message));
  await c.advance(2_000);
  // London, and the session's replicas in Singapore, are cut off from New York: the cart's
  // global write is acknowledged with Singapore's majority, and no replica of the session
  // outside New York hears from its coordinator after it (as when the site dies before its
  // next heartbeat gets out)...
  c.network.partition(nycAll, [...lonAll, ...replicasIn(session, "sin")]);
  const add = await c.settle(
    c.mutate(coordinator, {
      key: cart,
      mutation: { kind: "set", value: "pear" },
      opId: "c1",
      consistency: "global",
      token: login.value.token,
    }),
  );
  assert.ok(add.ok, String(!add.ok && add.error.message));
  // ...and New York is lost right after the ack.
  c.network.partition(nycAll, sinAll);
  const token = add.value.token;
  const reader = replicasIn(session, "lon")[0];
  const read = await c.settle(c.read(reader, { key: session, consistency: "local-quorum", token, timeoutMs: 3_000 }));
  assert.ok(read.ok, `the session goes on in London: ${!read.ok && read.error.message}`);
  assert.deepEqual(read.value.value, { exists: true, type: "reg", value: "alice" });
  const cartRead = await c.settle(
    c.read(replicasIn(cart, "lon")[0], { key: cart, consistency: "local-quorum", token, timeoutMs: 3_000 }),
  );
  assert.ok(cartRead.ok, String(!cartRead.ok && cartRead.error.message));
  assert.deepEqual(
    cartRead.value.value,
    { exists: true, type: "reg", value: "pear" },
    "read your write, from Singapore",
  );
  // A local-quorum write through the lost site cannot be in London or Singapore: its reads wait.
  c.network.heal();
  await c.advance(2_000);
  c.network.partition(nycAll, [...lonAll, ...sinAll]);
  const local = await c.settle(
    c.mutate(coordinator, {
      key: cart,
      mutation: { kind: "set", value: "plum" },
      opId: "c2",
      consistency: "local-quorum",
      token,
    }),
  );
  assert.ok(local.ok, String(!local.ok && local.error.message));
  const stale = await c.settle(
    c.read(reader, { key: session, consistency: "local-quorum", token: local.value.token, timeoutMs: 1_500 }),
  );
  assert.ok(!stale.ok, "a read that cannot have seen the local-quorum write does not answer");
  assert.match((stale.error as { code?: string }).code ?? "", /RS_ERR_STORE_(STALE|CONSISTENCY)/);
  await c.stopAll();
});

test("engine - a retry answered as a duplicate by another replica than the first coordinator gives a token that a read elsewhere can only pass with the write", async () => {
  const c = await cluster(31);
  // nyc-store1 coordinates the write but cannot reach London: its own stream never gets there.
  c.network.partition(["nyc-store1"], ["lon-store1", "lon-store2", "lon-store3"]);
  const first = await c.settle(
    c.mutate("nyc-store1", { key: "k", mutation: { kind: "set", value: "v1" }, opId: "r1", consistency: "local-one" }),
  );
  assert.ok(first.ok, String(!first.ok && first.error.message));
  await c.advance(500);
  // The client did not see that answer and retries at nyc-store2, which holds the op already.
  const retry = await c.settle(
    c.mutate("nyc-store2", { key: "k", mutation: { kind: "set", value: "v1" }, opId: "r1", consistency: "local-one" }),
  );
  assert.ok(retry.ok, String(!retry.ok && retry.error.message));
  assert.equal(retry.value.duplicate, true);
  await c.advance(300);
  // London with the retry's token: it answers with the write, or refuses — never without it.
  const token = retry.value.token;
  for (const id of ["lon-store1", "lon-store2", "lon-store3"]) {
    const r = await c.settle(c.read(id, { key: "k", consistency: "local-one", token, timeoutMs: 2_000 }));
    if (r.ok)
      assert.deepEqual(r.value.value, { exists: true, type: "reg", value: "v1" }, `${id} read the session's write`);
    else assert.match((r.error as { code?: string }).code ?? "", /RS_ERR_STORE_(STALE|CONSISTENCY)/);
  }
  assert.equal(c.internalErrors(), 0);
  await c.stopAll();
});
