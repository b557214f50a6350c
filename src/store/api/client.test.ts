// The TypeScript client against real HTTP servers on loopback, each a front of one real
// engine (test/support/engine-api.ts: a one-node store with its SQLite file); the fronts of
// site c share it, standing in for a replicated store whose replication is instantaneous.
// These tests prove routing, failover, retries with the same op id, error codes and the
// session token, not replication (the store's cluster tests prove that).
// Addresses: 127.141.0.0/16, 127.142.0.0/16 and 127.148.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, afterEach, before, describe, test } from "node:test";
import { type EngineFront, type RealEngine, startRealEngine } from "../../../test/support/engine-api.ts";
import { createLogger, isRedshirtError } from "../../core/index.ts";
import { validatePlanet } from "../../topology/index.ts";
import {
  createStoreClient,
  createStoreHttpServer,
  decodeSessionToken,
  type StoreClient,
  type StoreHttpServer,
  storeErrors,
} from "../index.ts";
import { partitionOf, replicasOf } from "../replication/partition.ts";

const planet = validatePlanet({
  name: "clienttest",
  zone: "clienttest.test.",
  sites: [
    { name: "c", city: "C", lat: 0, lon: 0, subnet: "127.141.0.0/16", tiers: { store: 4 } },
    // Nobody listens in this site: every attempt there is refused.
    { name: "d", city: "D", lat: 1, lon: 1, subnet: "127.142.0.0/16" },
  ],
  store: { partitions: 16, rf: 3 },
  ports: { store: 7400 },
  wan: { mode: "direct" },
});
const siteNodes = planet.storeNodes.filter((n) => n.site === "c");
const logger = createLogger({}, { level: "error", write: () => {} });
const secret = randomBytes(32);

/** The nodes a key should go to, in order, by the same routing functions the client uses. */
function expectedOrder(key: string): string[] {
  return replicasOf(
    partitionOf(key, planet.store.partitions),
    siteNodes.map((n) => n.id),
    siteNodes.length,
  );
}

type Cluster = { fakes: Map<string, EngineFront>; servers: Map<string, StoreHttpServer>; engine: RealEngine };

async function startCluster(): Promise<Cluster> {
  // The engine's node is c-store1 on site c's first store address (its peer port, beside
  // the front's HTTP port), so the session tokens it signs name a node of this planet.
  const engine = await startRealEngine({ subnet: "127.141.0.0/16", site: "c" });
  const fakes = new Map<string, EngineFront>();
  const servers = new Map<string, StoreHttpServer>();
  try {
    for (const n of siteNodes) {
      const fake = engine.front(n.id);
      const server = createStoreHttpServer(fake, { host: n.host, port: n.port, logger, nodeId: n.id, planet, secret });
      fakes.set(n.id, fake);
      servers.set(n.id, server);
      await server.start();
    }
  } catch (err) {
    await Promise.all([...servers.values()].map((s) => s.stop()));
    await engine.stop();
    throw err;
  }
  return { fakes, servers, engine };
}

async function stopCluster(c: Cluster | undefined): Promise<void> {
  if (!c) return;
  await Promise.all([...c.servers.values()].map((s) => s.stop()));
  await c.engine.stop();
}

/** The value the engine holds for a key. */
async function engineValue(c: Cluster, key: string): Promise<unknown> {
  return (await c.engine.engine.read({ key, consistency: "local-one" })).value;
}

/** Which node received the last request for a key. */
function receivedBy(c: Cluster, key: string): string[] {
  return [...c.fakes.values()]
    .filter((f) => f.mutations.some((m) => m.key === key) || f.reads.some((r) => r.key === key))
    .map((f) => f.nodeId);
}

describe("store client", () => {
  let cluster: Cluster | undefined;
  let client: StoreClient | undefined;
  before(async () => {
    cluster = await startCluster();
  });
  afterEach(async () => {
    await client?.close();
    client = undefined;
    for (const f of cluster?.fakes.values() ?? []) {
      f.failWith = undefined;
      f.hold = undefined;
    }
  });
  after(() => stopCluster(cluster));

  for (const protocol of ["binary", "http"] as const) {
    test(`store client - every type round-trips, and the client reads its own writes with its session (${protocol})`, async () => {
      // Each protocol starts from empty data: a new engine.
      await stopCluster(cluster);
      cluster = await startCluster();
      client = createStoreClient({ planet, site: "c", protocol });
      assert.equal(client.session, undefined);
      assert.deepEqual(await client.set("reg", { a: [1, "two"] }), { a: [1, "two"] });
      assert.deepEqual(await client.get("reg"), { exists: true, type: "reg", value: { a: [1, "two"] } });
      assert.equal(await client.incr("ctr", 5), 5);
      assert.equal(await client.incr("ctr"), 6);
      assert.deepEqual(await client.add("set", ["b", "a"]), ["a", "b"]);
      assert.deepEqual(await client.remove("set", ["a"]), ["b"]);
      assert.deepEqual(await client.fields("cart", { set: { note: "gift" }, incr: { apples: 3 } }), {
        note: "gift",
        apples: 3,
      });
      assert.deepEqual(await client.fields("cart", { remove: ["note"] }), { apples: 3 });
      await client.del("reg");
      assert.deepEqual(await client.get("reg"), { exists: false });
      assert.deepEqual(await client.get("never-written"), { exists: false });
      const weird = "a/b?c#d %e é";
      await client.set(weird, 1);
      assert.equal((await client.get(weird)).value, 1);
      // The token covers every engine that applied a write (here the one behind every front,
      // though the writes went through several), and goes out with every later request.
      const token = decodeSessionToken(client.session!, secret);
      const writers = new Set([...cluster!.fakes.values()].filter((f) => f.mutations.length > 0).map((f) => f.nodeId));
      assert.ok(writers.size > 1, "the writes went through several nodes");
      assert.deepEqual(Object.keys(token), [cluster!.engine.engine.id]);
      const last = [...cluster!.fakes.values()].flatMap((f) => f.reads).at(-1)!;
      assert.ok(last.token && Object.keys(last.token).length > 0, "reads carry the session");
      // A new client given the session carries it on.
      const resumed = createStoreClient({ planet, site: "c", session: client.session });
      try {
        await resumed.get("ctr");
        const read = [...cluster!.fakes.values()].flatMap((f) => f.reads).find((r) => r.key === "ctr")!;
        for (const [node, hlc] of Object.entries(token)) assert.ok((read.token?.[node] ?? 0) >= hlc);
      } finally {
        await resumed.close();
      }
      // put() is acknowledged without the value coming back.
      await client.put("acked", { big: "x".repeat(1000) });
      assert.deepEqual(await client.get("acked"), { exists: true, type: "reg", value: { big: "x".repeat(1000) } });
    });
  }

  test("store client - each request goes straight to the first replica of its key's partition", async () => {
    client = createStoreClient({ planet, site: "c" });
    for (let i = 0; i < 40; i++) {
      const key = `route-${i}`;
      await client.set(key, i);
      await client.get(key);
      assert.deepEqual(receivedBy(cluster!, key), [expectedOrder(key)[0]], key);
    }
    const firsts = new Set(Array.from({ length: 40 }, (_, i) => expectedOrder(`route-${i}`)[0]));
    assert.ok(firsts.size > 1, "keys spread over several nodes");
  });

  test("store client - a 503 moves the request to the next replica with the same op id, applied once", async () => {
    client = createStoreClient({ planet, site: "c" });
    const key = "retry-counter";
    const [first, second] = expectedOrder(key);
    cluster!.fakes.get(first)!.failWith = () => storeErrors.create("RS_ERR_STORE_CONSISTENCY", "1 of 2 acks");
    assert.equal(await client.incr(key, 7), 7);
    const ids = [first, second].map((n) => cluster!.fakes.get(n)!.mutations.filter((m) => m.key === key));
    assert.equal(ids[0].length, 1);
    assert.equal(ids[1].length, 1);
    assert.equal(ids[0][0].opId, ids[1][0].opId);
    assert.deepEqual(await engineValue(cluster!, key), { exists: true, type: "counter", value: 7 });
    // Every node short of replicas: the client says so with the server's code.
    for (const f of cluster!.fakes.values()) f.failWith = () => storeErrors.create("RS_ERR_STORE_CONSISTENCY", "x");
    await assert.rejects(client.incr(key, 1), (err) => isRedshirtError(err, "RS_ERR_STORE_CONSISTENCY"));
    const tried = [...cluster!.fakes.values()].filter((f) => f.mutations.filter((m) => m.key === key).length > 0);
    assert.equal(tried.length, siteNodes.length, "every node of the site was tried");
    const opIds = new Set(tried.flatMap((f) => f.mutations.filter((m) => m.key === key).map((m) => m.opId)));
    assert.equal(opIds.size, 2, "one op id per logical operation");
  });

  test("store client - definite failures are reported as such; one indefinite answer makes the outcome indefinite, with the op id to retry with", async () => {
    client = createStoreClient({ planet, site: "c" });
    const key = "definite-counter";
    const [first] = expectedOrder(key);
    for (const f of cluster!.fakes.values()) f.failWith = () => storeErrors.create("RS_ERR_STORE_OVERLOADED", "full");
    await assert.rejects(client.incr(key, 1), (err) => {
      assert.ok(isRedshirtError(err, "RS_ERR_STORE_OVERLOADED"));
      assert.equal(err.definite, true, "nothing was applied anywhere: report it");
      return true;
    });
    cluster!.fakes.get(first)!.failWith = () => storeErrors.create("RS_ERR_STORE_INTERRUPTED", "stopped");
    await assert.rejects(client.incr(key, 1, { opId: "maybe-1" }), (err) => {
      assert.ok(isRedshirtError(err, "RS_ERR_STORE_INTERRUPTED"), String(err));
      assert.equal(err.definite, false, "it may have been applied: retry with the same op id");
      return true;
    });
    for (const f of cluster!.fakes.values()) f.failWith = undefined;
    assert.equal(await client.incr(key, 1, { opId: "maybe-1" }), 1, "the retry with the same op id applies once");
  });

  test("store client - a 4xx is the caller's error: thrown with the server's code, not retried elsewhere", async () => {
    client = createStoreClient({ planet, site: "c" });
    await client.set("typed", "text");
    await assert.rejects(client.incr("typed", 1), (err) => {
      assert.ok(isRedshirtError(err, "RS_ERR_STORE_WRONG_TYPE"));
      assert.equal(err.status, 409);
      assert.match(err.message, /holds another type/);
      return true;
    });
    assert.deepEqual(receivedBy(cluster!, "typed"), [expectedOrder("typed")[0]]);
    await assert.rejects(client.get("k".repeat(1025)), (err) => isRedshirtError(err, "RS_ERR_STORE_KEY_TOO_LARGE"));
    await assert.rejects(client.get(""), (err) => isRedshirtError(err, "RS_ERR_STORE_BAD_REQUEST"));
    await assert.rejects(client.get("x", { consistency: "most" as never }), (err) =>
      isRedshirtError(err, "RS_ERR_STORE_BAD_CONSISTENCY"),
    );
  });

  test("store client - a hung node costs one attempt's share of the timeout, then another node answers", async () => {
    client = createStoreClient({ planet, site: "c", timeoutMs: 1000 });
    const key = "hung";
    const [first, second] = expectedOrder(key);
    let release!: () => void;
    cluster!.fakes.get(first)!.hold = new Promise<void>((r) => {
      release = r;
    });
    const started = performance.now();
    await client.set(key, "v");
    const tookMs = performance.now() - started;
    release();
    assert.ok(tookMs >= 450 && tookMs < 900, `took ${tookMs} ms`);
    assert.equal(cluster!.fakes.get(second)!.mutations.at(-1)?.key, key);
    // The server was told to give up before the client does.
    const told = cluster!.fakes.get(first)!.mutations.at(-1)!.timeoutMs!;
    assert.ok(told < 500 && told >= 300, `RS-Timeout-Ms ${told}`);
  });
});

describe("store client failover", () => {
  let cluster: Cluster | undefined;
  after(() => stopCluster(cluster));

  test("store client failover - with a node's server stopped, every key is still read and written", async () => {
    cluster = await startCluster();
    const client = createStoreClient({ planet, site: "c", timeoutMs: 2000 });
    try {
      const keys = Array.from({ length: 30 }, (_, i) => `fo-${i}`);
      for (const k of keys) await client.set(k, k);
      const victim = siteNodes[0].id;
      await cluster.servers.get(victim)!.stop();
      const before = cluster.fakes.get(victim)!.mutations.length;
      for (const k of keys) {
        assert.equal((await client.get(k)).value, k);
        assert.equal(await client.incr(`${k}-n`, 2), 2);
      }
      assert.equal(cluster.fakes.get(victim)!.mutations.length, before, "the stopped node got nothing");
      const rerouted = keys.filter((k) => expectedOrder(k)[0] === victim);
      assert.ok(rerouted.length > 0, "some keys had the stopped node first");
      for (const k of rerouted) {
        const next = expectedOrder(k)[1];
        assert.ok(
          cluster.fakes.get(next)!.reads.some((r) => r.key === k),
          `${k} went to ${next}`,
        );
      }
    } finally {
      await client.close();
    }
  });

  test("store client failover - a site with no node up fails over to the nearest other site's replicas", async () => {
    const client = createStoreClient({ planet, site: "d", timeoutMs: 2000 });
    try {
      assert.deepEqual(await client.set("k-from-d", 7), 7);
      const c = cluster!;
      const took = receivedBy(c, "k-from-d");
      assert.equal(took.length, 1);
      assert.ok(expectedOrder("k-from-d").slice(0, planet.store.rf).includes(took[0]), "a replica in site c took it");
    } finally {
      await client.close();
    }
  });

  test("store client failover - with no node up anywhere it is RS_ERR_STORE_UNAVAILABLE, naming each attempt", async () => {
    const lonely = validatePlanet({
      name: "nobody",
      zone: "nobody.test.",
      sites: [
        { name: "d", city: "D", lat: 1, lon: 1, subnet: "127.142.0.0/16" },
        { name: "e", city: "E", lat: 2, lon: 2, subnet: "127.148.0.0/16" },
      ],
      store: { partitions: 16, rf: 3 },
      ports: { store: 7400 },
      wan: { mode: "direct" },
    });
    const client = createStoreClient({ planet: lonely, site: "d", timeoutMs: 2000 });
    try {
      const started = performance.now();
      await assert.rejects(client.set("k", 1), (err) => {
        assert.ok(isRedshirtError(err, "RS_ERR_STORE_UNAVAILABLE"));
        assert.match(err.message, /d-store1 ECONNREFUSED/);
        assert.match(err.message, /e-store\d ECONNREFUSED/);
        assert.equal((err.detail?.attempts as unknown[] | undefined)?.length, 6);
        return true;
      });
      assert.ok(performance.now() - started < 1500, "refused connections fail fast");
    } finally {
      await client.close();
    }
  });

  test("store client failover - a client refuses an unknown site and bad options, naming the field", () => {
    assert.throws(() => createStoreClient({ planet, site: "zz" }), /site: no site "zz".*sites: c, d/);
    assert.throws(() => createStoreClient({ planet, site: "c", timeoutMs: 0 }), /timeoutMs/);
    assert.throws(
      () => createStoreClient({ planet, site: "c", session: "%%" }),
      (e) => isRedshirtError(e, "RS_ERR_STORE_BAD_SESSION") && /session: not base64url/.test(e.message),
    );
  });
});
