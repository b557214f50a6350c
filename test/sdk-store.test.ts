// The SDK's sessions, idempotency and cart map against a real two-site store (one node per
// site, real processes, TCP). The retry tests make the case a failover makes: the first
// attempt is acknowledged by site a's node while site b's node is down, a's node dies, and
// the retry (same op ids) is applied by b's node, which never saw the first attempt; when
// a's node comes back the two applications merge, and the change counts once. The shop's
// checkout (examples/shop/api.ts, called directly) goes through the same case.
// Addresses: 127.100.0.0/16 and 127.101.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { after, before, test } from "node:test";
import { handleApi, type ShopDeps } from "../examples/shop/api.ts";
import { Counter, createLogger, RedshirtError } from "../src/core/index.ts";
import { countsMap, createIdempotency, createSessions, idempotencyBase, idempotencyKeyOf } from "../src/sdk/index.ts";
import { createStoreClient, encodeSessionToken, type StoreClient } from "../src/store/index.ts";
import { sleep, waitFor } from "./support/gateway-cluster.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const cluster = new StoreCluster({
  sites: [
    { name: "a", octet: 100, lat: 50, lon: 0, nodes: 1 },
    { name: "b", octet: 101, lat: 40, lon: -70, nodes: 1 },
  ],
  partitions: 8,
  rf: 1,
});
const one = { consistency: "local-one" } as const;
let storeA: StoreClient;
let storeB: StoreClient;

before(async () => {
  await cluster.startAll();
  storeA = createStoreClient({ planet: cluster.planet, site: "a", timeoutMs: 3_000 });
  storeB = createStoreClient({ planet: cluster.planet, site: "b", timeoutMs: 3_000 });
});

after(async () => {
  await storeA?.close();
  await storeB?.close();
  await cluster[Symbol.asyncDispose]();
});

function requestWith(cookie: string | undefined): IncomingMessage {
  return { headers: cookie === undefined ? {} : { cookie } } as IncomingMessage;
}

/** The cookie header a browser sends back for a set-cookie value. */
function cookieBack(setCookie: string): string {
  return setCookie.split(";")[0];
}

/** Both nodes, read each on its own without a token, agree on the cart. */
async function converged(key: string, want: Record<string, number>, timeoutMs = 20_000): Promise<void> {
  const map = countsMap(key);
  let seen: unknown[] = [];
  const ms = await waitFor(
    async () => {
      seen = await Promise.all(
        [storeA, storeB].map(async (s) => (await map.read(s.withSession(undefined))).counts),
      ).catch((err) => [String(err)]);
      return seen.every((c) => JSON.stringify(c) === JSON.stringify(want));
    },
    timeoutMs,
    100,
  );
  assert.ok(ms >= 0, `both nodes hold ${JSON.stringify(want)}; saw ${JSON.stringify(seen)}`);
  // And it stays so: nothing late adds a second application.
  await sleep(500);
  for (const s of [storeA, storeB]) assert.deepEqual((await map.read(s.withSession(undefined))).counts, want);
}

/** Kills b's node, runs `first` (acknowledged by a's node alone), kills a's node, starts b's node. */
async function onlyAHeardIt(first: () => Promise<void>): Promise<void> {
  assert.equal(cluster.processes.size, 2, "both nodes run when a retry test starts");
  await cluster.kill("b-store1");
  await first();
  await cluster.kill("a-store1");
  await cluster.start("b-store1");
}

test("sdk sessions - a login in one site resolves in the other with the cookie alone; logout removes it", async () => {
  const badTokens = new Counter("bad", "bad tokens");
  const inA = createSessions({ store: storeA, badTokens });
  const inB = createSessions({ store: storeB, badTokens });
  const login = await inA.resolve(requestWith(undefined));
  assert.equal(login.user, undefined);
  const id = await inA.login(login.store, "vu-1", "login-key-1");
  const cookie = cookieBack(inA.cookie(id, login.store));
  assert.match(cookie, /^rs_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/, "id and token, nothing else");

  const there = await inB.resolve(requestWith(cookie));
  assert.equal(there.id, id);
  assert.equal(there.user, "vu-1", "the other site's instance resolves the session from the store");
  // The same login retried (same op id) is the same session, applied once.
  assert.equal(await inB.login(there.store, "vu-1", "login-key-1"), id);

  await inB.logout(there.store, id, "logout-key-1");
  const after = cookieBack(inB.cookie(undefined, there.store));
  assert.match(after, /^rs_session=\.[A-Za-z0-9_-]+$/, "no session; the token stays for read-your-writes");
  const gone = await inA.resolve(requestWith(after));
  assert.equal(gone.id, undefined);
  // The old cookie's token names the login only, so it waits for nothing newer: it stops
  // resolving in A once the logout got there from B (a WAN trip and a paced relay send).
  const oldCookieGoneMs = await waitFor(async () => (await inA.resolve(requestWith(cookie))).user === undefined, 5_000);
  assert.ok(oldCookieGoneMs >= 0, "the old cookie no longer resolves");

  const mangled = await inA.resolve(requestWith(`rs_session=${id}.not*a*token`));
  assert.equal(mangled.tokenIn, undefined, "a malformed token is dropped");
  assert.equal(badTokens.get(), 1, "and counted");
  // A token of another planet's store (well formed, signed with another secret): the session
  // still resolves without it, instead of every request being refused until the cookie goes.
  const again = await inA.login(login.store, "vu-2");
  const foreign = encodeSessionToken({ "a-store1": 1 }, randomBytes(32));
  const resolved = await inA.resolve(requestWith(`rs_session=${again}.${foreign}`));
  assert.equal(resolved.user, "vu-2");
  assert.equal(badTokens.get(), 2, "and counted");
});

test("sdk store views - each view keeps its own session token and shares the client's connections", async () => {
  const u1 = storeA.withSession(undefined);
  const u2 = storeA.withSession(undefined);
  await u1.put("view:1", "one");
  assert.ok(u1.session, "the view's token advanced");
  assert.equal(u2.session, undefined, "another view's token did not");
  const u1Later = storeB.withSession(u1.session);
  assert.equal(
    (await u1Later.get("view:1")).value,
    "one",
    "a view made from the token reads the write in the other site",
  );
  await u1.close();
  await assert.rejects(u1.get("view:1"), /closed/, "a closed view refuses");
  assert.equal((await u2.get("view:1")).value, "one", "closing a view leaves the client's connections open");
});

test("sdk idempotency - a retried mutation runs once and answers the same status and body; 4xx kept, 5xx not", async () => {
  const replays = new Counter("replays", "replays");
  const keepFailures = new Counter("keep", "keep failures");
  const idem = createIdempotency({ ttlS: 600, replays, keepFailures });
  let runs = 0;
  // The handler writes through the request's view, as an app's handler does.
  let view = storeA.withSession(undefined);
  let tokenAfterHandler: string | undefined;
  const handler = async (run: { opId(part: string): string }) => {
    runs++;
    const total = await view.incr("idem-test:count", 5, { opId: run.opId("incr") });
    tokenAfterHandler = view.session;
    return { status: 200, body: { total, z: 1, a: 2 } };
  };
  const first = await idem.run(view, "user:u", "key-1", handler);
  // The kept answer is written outside the session: the session's later reads elsewhere wait
  // for the handler's writes only, not for the keeper's (maybe local-level) write.
  assert.equal(view.session, tokenAfterHandler, "keeping the answer did not advance the session's token");
  // The retry comes from the other site once the kept answer got there (its write is at the
  // keeper's level, local here: a retry that outruns it runs the handler again, and the
  // handler's writes are duplicates — not what this test is about).
  const recordKey = `idem:${idempotencyBase("user:u", "key-1")}`;
  const reachedMs = await waitFor(async () => (await storeB.withSession(undefined).get(recordKey)).exists, 5_000);
  assert.ok(reachedMs >= 0, "the kept answer reached the other site");
  view = storeB.withSession(view.session);
  const again = await idem.run(view, "user:u", "key-1", handler);
  assert.equal(runs, 1, "the retry answered from the kept answer");
  assert.equal(again.replayed, true);
  assert.equal(JSON.stringify(again.body), JSON.stringify(first.body), "the same body, byte for byte");
  assert.equal(replays.get(), 1);
  // A replay gives the request the first run's session token: the user's next read sees its writes.
  view = storeB.withSession(undefined);
  await idem.run(view, "user:u", "key-1", handler);
  assert.ok(view.session, "the kept token was merged into the replaying request's");
  assert.equal(runs, 1);
  // The same key from another user is another mutation.
  const other = await idem.run(storeA.withSession(undefined), "user:v", "key-1", handler);
  assert.equal((other.body as { total: number }).total, 10);
  // The handler run again under the same key (the kept answer not seen): its writes are duplicates.
  assert.equal(await storeB.incr("idem-test:count", 5, { opId: `${idempotencyBase("user:u", "key-1")}.incr` }), 10);
  // A refusal is kept; a failure is not.
  const refuse = async () => {
    throw new RedshirtError("RS_ERR_TEST_NO", { status: 409, message: "no such thing", definite: true }, undefined);
  };
  assert.equal((await idem.run(storeA, "user:u", "key-2", refuse)).status, 409);
  assert.equal((await idem.run(storeA, "user:u", "key-2", handler)).status, 409, "the kept 409, not a new run");
  let fails = 0;
  const fail = async () => {
    fails++;
    return { status: 503, body: { error: "later" } };
  };
  await idem.run(storeA, "user:u", "key-3", fail);
  await idem.run(storeA, "user:u", "key-3", fail);
  assert.equal(fails, 2, "a 5xx is not kept: the retry runs again");
  assert.equal(keepFailures.get(), 0);
  assert.throws(() => idempotencyKeyOf("has space"), /RS_ERR_SDK_BAD_IDEMPOTENCY_KEY|Idempotency-Key/);
  assert.throws(() => idempotencyKeyOf("x".repeat(129)));
  assert.equal(idempotencyKeyOf("vu-17:41.a_b"), "vu-17:41.a_b");
  assert.equal(idempotencyKeyOf(undefined), undefined);
});

test("sdk countsMap - add adds, set sets, 0 removes, notes ride with a set", async () => {
  const cart = countsMap("cart:plain", one);
  const v = storeA.withSession(undefined);
  assert.deepEqual((await cart.add(v, "apple", 2, "p1")).counts, { apple: 2 });
  assert.deepEqual((await cart.add(v, "apple", 2, "p1")).counts, { apple: 2 }, "a retried add counts once");
  assert.deepEqual((await cart.add(v, "pear", 1, "p2")).counts, { apple: 2, pear: 1 });
  assert.deepEqual((await cart.set(v, { apple: 5 }, "p3")).counts, { apple: 5, pear: 1 });
  assert.deepEqual((await cart.add(v, "apple", 1, "p4")).counts, { apple: 6, pear: 1 });
  assert.deepEqual((await cart.set(v, { pear: 0 }, "p5")).counts, { apple: 6 });
  const done = await cart.set(v, { apple: 0 }, "p6", { "o-1": { id: "o-1" } });
  assert.deepEqual(done, { counts: {}, notes: { "o-1": { id: "o-1" } } });
  await cart.add(v, "apple", 3, "p7");
  await cart.compact(v, "p8", []);
  assert.deepEqual(await cart.read(v), { counts: { apple: 3 }, notes: {} }, "compaction keeps what counts");
  const raw = (await v.get("cart:plain")).value as Record<string, unknown>;
  assert.deepEqual(
    Object.keys(raw).filter((f) => f.startsWith("n.") || f.startsWith("x.")).length,
    1,
    "one live counter, no notes",
  );
});

test("sdk countsMap - an add retried in the other site, on a node that never saw the first attempt, counts once", async () => {
  const cart = countsMap("cart:retry-add", one);
  // The user's earlier writes were made in site b (b's node names them in the token, and
  // knows them after its restart).
  const user = storeB.withSession(undefined);
  await cart.add(user, "apple", 2, "ra-1");
  await converged("cart:retry-add", { apple: 2 });
  const cookieToken = user.session;
  // The first attempt is acknowledged by a's node alone, and its answer never reaches the user.
  await onlyAHeardIt(async () => {
    await cart.add(storeA.withSession(cookieToken), "apple", 3, "ra-2");
  });
  assert.deepEqual((await cart.read(storeB.withSession(cookieToken))).counts, { apple: 2 }, "b's node never saw it");
  // The retry, with the cookie the user still holds, in site b.
  const retried = await cart.add(storeB.withSession(cookieToken), "apple", 3, "ra-2");
  assert.deepEqual(retried.counts, { apple: 5 }, "applied by b's node");
  await cluster.start("a-store1");
  await converged("cart:retry-add", { apple: 5 });
});

test("sdk countsMap - a set retried in the other site, then more adds there, counts the set once and keeps the adds", async () => {
  const cart = countsMap("cart:retry-set", one);
  const user = storeB.withSession(undefined);
  await cart.add(user, "apple", 4, "rs-1");
  await cart.add(user, "pear", 1, "rs-2");
  await converged("cart:retry-set", { apple: 4, pear: 1 });
  const cookieToken = user.session;
  await onlyAHeardIt(async () => {
    await cart.set(storeA.withSession(cookieToken), { apple: 1 }, "rs-3");
  });
  const there = storeB.withSession(cookieToken);
  assert.deepEqual((await cart.read(there)).counts, { apple: 4, pear: 1 }, "b's node never saw it");
  assert.deepEqual((await cart.set(there, { apple: 1 }, "rs-3")).counts, { apple: 1, pear: 1 });
  assert.deepEqual((await cart.add(there, "apple", 2, "rs-4")).counts, { apple: 3, pear: 1 });
  await cluster.start("a-store1");
  await converged("cart:retry-set", { apple: 3, pear: 1 });
});

test("shop checkout - retried in the other site, on a node that never saw the first attempt, makes one order", async () => {
  const deps: ShopDeps = {
    idempotency: createIdempotency({ ttlS: 600, writeOptions: one }),
    writeOptions: one,
    login: async () => "unused",
    logout: async () => {},
    log: createLogger({ test: "checkout" }, { level: "error" }),
  };
  const as = (view: StoreClient) => ({ store: view, id: "s-1", user: "vu-c", tokenIn: undefined });
  const call = (view: StoreClient, method: string, path: string, key: string, body?: unknown) =>
    handleApi({ method, path, session: as(view), key, body }, deps);
  const user = storeB.withSession(undefined);
  await call(user, "POST", "/api/cart/items", "c-add", { item: "apple", quantity: 2 });
  await converged("cart:vu-c", { apple: 2 });
  const cookieToken = user.session;
  let first: unknown;
  await onlyAHeardIt(async () => {
    first = (await call(storeA.withSession(cookieToken), "POST", "/api/checkout", "c-co")).body;
  });
  const there = storeB.withSession(cookieToken);
  assert.deepEqual((await countsMap("cart:vu-c").read(there)).counts, { apple: 2 }, "b's node never saw it");
  const retried = (await call(there, "POST", "/api/checkout", "c-co")).body as { order: { id: string; items: object } };
  const placed = (first as { order: { id: string; items: object } }).order;
  assert.equal(retried.order.id, placed.id, "the order id comes from the key");
  assert.deepEqual(retried.order.items, placed.items);
  await cluster.start("a-store1");
  await converged("cart:vu-c", {});
  const ms = await waitFor(
    async () => {
      const seen = await Promise.all(
        [storeA, storeB].map(async (s) => (await s.withSession(undefined).get("orders:vu-c")).value as object),
      );
      return seen.every((o) => o && Object.keys(o).length === 1);
    },
    20_000,
    100,
  );
  assert.ok(ms >= 0, "both nodes hold the orders map");
  for (const s of [storeA, storeB]) {
    const orders = (await s.withSession(undefined).get("orders:vu-c")).value as Record<string, unknown>;
    assert.deepEqual(Object.keys(orders), [placed.id], "one order, on every node");
  }
});
