// The shop end to end, as real processes: a supervisor per site (two sites) runs a store
// node, two shop instances and a gateway each. Its JSON API, driven through the gateways
// like the load generator does (a cookie jar, Idempotency-Key on every mutation), keeps
// the contract of docs/shop.md; the instance that served a mutation is SIGKILLed and the
// mutation retried with the same key on another instance, and in the other site: it is
// applied once and answers the same status and body. Checkout makes one order per key.
// Addresses: 127.102.0.0/16 and 127.103.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { request } from "undici";
import { type Launched, launch, nodeBin } from "../src/core/index.ts";
import { cleanup, startSupervisor, status, type TestPlanet, waitStatus, writePlanet } from "./support/supervised.ts";

const tp: TestPlanet = writePlanet(
  "redshirt-shop-",
  `name: shoptest
zone: shop.test.
sites:
  - { name: x, city: X, lat: 40, lon: -74, subnet: 127.102.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 0 } }
  - { name: y, city: Y, lat: 51, lon: 0, subnet: 127.103.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 0 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
`,
);
const sites = tp.planet.sites.map((s) => s.name);
const supervisors: Launched[] = [];

before(async () => {
  for (const site of sites) supervisors.push(await startSupervisor(tp, site));
  for (const site of sites) {
    await waitStatus(tp, site, (s) => s.ready, 90_000, `${site} ready`);
  }
});

after(async () => {
  await cleanup(tp, sites, supervisors);
});

type Answer = { status: number; body: unknown; text: string; site: string; instance: string };

/** A browser-like client: one cookie jar for every gateway (the site is chosen by DNS in real life). */
class Shopper {
  cookie: string | undefined;

  async call(site: string, method: string, path: string, body?: unknown, key?: string): Promise<Answer> {
    const t0 = performance.now();
    const g = tp.planet.gateways.find((x) => x.site === site)!;
    const res = await request(`http://${g.host}:${g.port}${path}`, {
      method: method as "GET",
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(key === undefined ? {} : { "idempotency-key": key }),
        ...(this.cookie === undefined ? {} : { cookie: this.cookie }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      headersTimeout: 15_000,
    });
    const text = await res.body.text();
    if (process.env.SHOP_TEST_TRACE)
      console.log(`${method} ${path} ${res.statusCode} ${Math.round(performance.now() - t0)} ms`);
    const set = res.headers["set-cookie"];
    const first = Array.isArray(set) ? set[0] : set;
    if (first) this.cookie = first.split(";")[0];
    return {
      status: res.statusCode,
      body: JSON.parse(text),
      text,
      site: String(res.headers["x-served-site"]),
      instance: String(res.headers["x-served-instance"]),
    };
  }
}

async function killInstance(site: string, id: string): Promise<void> {
  const row = (await status(tp, site)).instances.find((r) => r.id === id);
  assert.ok(row?.pid, `${id} runs in ${site}`);
  process.kill(row.pid, "SIGKILL");
}

/** Retries until an instance other than `not` answers (the gateway may first try the dead one's address). */
async function retryElsewhere(
  shopper: Shopper,
  site: string,
  not: string,
  method: string,
  path: string,
  body: unknown,
  key: string,
): Promise<Answer> {
  for (let i = 0; i < 20; i++) {
    const a = await shopper.call(site, method, path, body, key);
    assert.equal(a.status < 500 || a.status === 502 || a.status === 503, true, `${a.status} ${a.text}`);
    if (a.status < 500 && a.instance !== not) return a;
  }
  assert.fail(`no other instance than ${not} answered`);
}

test("shop - the JSON API keeps the contract, and every answer names the site and instance that served it", async () => {
  const s = new Shopper();
  const cat = await s.call("x", "GET", "/api/catalogue");
  assert.equal(cat.status, 200);
  assert.ok((cat.body as { items: unknown[] }).items.length >= 8);
  assert.equal(cat.site, "x");
  assert.match(cat.instance, /^x-app-/);
  assert.deepEqual((await s.call("x", "GET", "/api/session")).body, { session: null, user: null });
  const noSession = await s.call("x", "GET", "/api/cart");
  assert.equal(noSession.status, 401);
  assert.deepEqual(Object.keys((noSession.body as { error: object }).error).sort(), ["code", "definite", "message"]);
  assert.match(noSession.site, /^x$/, "errors carry the served headers too");
  const badUser = await s.call("x", "POST", "/api/login", { user: "no spaces" }, "l-0");
  assert.equal(badUser.status, 400);
  assert.deepEqual((badUser.body as { error: { code: string; definite: boolean } }).error.definite, true);

  const login = await s.call("x", "POST", "/api/login", { user: "vu-1" }, "l-1");
  assert.equal(login.status, 200, login.text);
  const sessionId = (login.body as { session: string }).session;
  assert.match(s.cookie ?? "", new RegExp(`^rs_session=${sessionId}\\.`));
  // The other site resolves the session from the store.
  assert.deepEqual((await s.call("y", "GET", "/api/session")).body, { session: sessionId, user: "vu-1" });

  assert.deepEqual((await s.call("x", "POST", "/api/cart/items", { item: "apple", quantity: 2 }, "c-1")).body, {
    user: "vu-1",
    cart: { apple: 2 },
  });
  assert.deepEqual((await s.call("y", "POST", "/api/cart/items", { item: "pear", quantity: 1 }, "c-2")).body, {
    user: "vu-1",
    cart: { apple: 2, pear: 1 },
  });
  assert.deepEqual((await s.call("x", "PUT", "/api/cart/items/apple", { quantity: 5 }, "c-3")).body, {
    user: "vu-1",
    cart: { apple: 5, pear: 1 },
  });
  assert.deepEqual((await s.call("y", "DELETE", "/api/cart/items/pear", undefined, "c-4")).body, {
    user: "vu-1",
    cart: { apple: 5 },
  });
  const unknown = await s.call("x", "POST", "/api/cart/items", { item: "kiwi", quantity: 1 }, "c-5");
  assert.equal((unknown.body as { error: { code: string } }).error.code, "RS_ERR_SHOP_UNKNOWN_ITEM");
  assert.equal((await s.call("x", "POST", "/api/cart/items", { item: "apple", quantity: 100 }, "c-6")).status, 400);
  const badPath = await s.call("x", "PUT", "/api/cart/items/%E0%A4%A", { quantity: 1 }, "c-7");
  assert.equal(badPath.status, 400, `a broken path segment is bad input, not a server error: ${badPath.text}`);
  assert.deepEqual((await s.call("y", "GET", "/api/cart")).body, { user: "vu-1", cart: { apple: 5 } });

  const logout = await s.call("y", "POST", "/api/logout", undefined, "lo-1");
  assert.deepEqual(logout.body, { session: null });
  assert.deepEqual((await s.call("x", "GET", "/api/session")).body, { session: null, user: null });
  // Logging in again as the same user sees the same cart.
  await s.call("x", "POST", "/api/login", { user: "vu-1" }, "l-2");
  assert.deepEqual((await s.call("x", "GET", "/api/cart")).body, { user: "vu-1", cart: { apple: 5 } });
});

test("shop - a mutation retried after the instance that served it is SIGKILLed applies once and answers the same", async () => {
  const s = new Shopper();
  await s.call("x", "POST", "/api/login", { user: "vu-2" }, "k-login");
  const add = { item: "apple", quantity: 3 };
  const first = await s.call("x", "POST", "/api/cart/items", add, "k-add");
  assert.equal(first.status, 200, first.text);
  await killInstance("x", first.instance);
  const killedAt = performance.now();
  const again = await retryElsewhere(s, "x", first.instance, "POST", "/api/cart/items", add, "k-add");
  console.log(
    `measured: the add retried after SIGKILL of ${first.instance} answered by ${again.instance} ${Math.round(performance.now() - killedAt)} ms after the kill`,
  );
  assert.equal(again.status, first.status);
  assert.equal(again.text, first.text, "the same body, byte for byte");
  const inY = await s.call("y", "POST", "/api/cart/items", add, "k-add");
  assert.equal(inY.text, first.text, "and in the other site");
  assert.deepEqual((await s.call("y", "GET", "/api/cart")).body, { user: "vu-2", cart: { apple: 3 } }, "added once");

  const order = await s.call("y", "POST", "/api/checkout", undefined, "k-checkout");
  assert.equal(order.status, 200, order.text);
  const placed = (order.body as { order: { id: string; items: object; totalCents: number; idempotencyKey: string } })
    .order;
  assert.deepEqual(placed.items, { apple: 3 });
  assert.equal(placed.totalCents, 360);
  assert.equal(placed.idempotencyKey, "k-checkout");
  assert.deepEqual((order.body as { cart: object }).cart, {});
  await killInstance("y", order.instance);
  const retried = await retryElsewhere(s, "y", order.instance, "POST", "/api/checkout", undefined, "k-checkout");
  assert.equal(retried.text, order.text, "the retried checkout answers the same order");
  assert.equal((await s.call("x", "POST", "/api/checkout", undefined, "k-checkout")).text, order.text);
  const orders = (await s.call("x", "GET", "/api/orders")).body as { orders: { id: string }[] };
  assert.deepEqual(
    orders.orders.map((o) => o.id),
    [placed.id],
    "one order",
  );
  // A new key on the empty cart is a definite 409, and its retry answers the same.
  const empty = await s.call("x", "POST", "/api/checkout", undefined, "k-checkout-2");
  assert.equal(empty.status, 409);
  assert.equal((empty.body as { error: { code: string; definite: boolean } }).error.code, "RS_ERR_SHOP_CART_EMPTY");
});

test("shop - the HTML pages work without JavaScript: forms post and redirect, a form sent twice applies once", async () => {
  const g = tp.planet.gateways.find((x) => x.site === "x")!;
  let cookie = "";
  const form = async (path: string, fields: Record<string, string>) => {
    const res = await request(`http://${g.host}:${g.port}${path}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", cookie },
      body: new URLSearchParams(fields).toString(),
    });
    await res.body.dump();
    const set = res.headers["set-cookie"];
    if (set) cookie = (Array.isArray(set) ? set[0] : set).split(";")[0];
    return { status: res.statusCode, location: res.headers.location };
  };
  const page = async (path: string) => {
    const res = await request(`http://${g.host}:${g.port}${path}`, { headers: { cookie } });
    return { status: res.statusCode, text: await res.body.text(), location: res.headers.location };
  };
  assert.match((await page("/")).text, /<form method="post" action="\/login"|Log in/);
  assert.deepEqual(await form("/login", { user: "web-1", _idem: "f-1" }), { status: 303, location: "/" });
  const home = await page("/");
  assert.match(home.text, /Signed in as <b>web-1<\/b>/);
  assert.match(home.text, /name="_idem"/, "every form carries a key");
  assert.deepEqual(await form("/cart/add", { item: "pear", quantity: "2", _idem: "f-2" }), {
    status: 303,
    location: "/cart",
  });
  await form("/cart/add", { item: "pear", quantity: "2", _idem: "f-2" });
  assert.match(
    (await page("/cart")).text,
    /name="quantity" type="number" min="0" max="99" value="2"/,
    "2 pears, not 4",
  );
  assert.deepEqual(await form("/checkout", { _idem: "f-3" }), { status: 303, location: "/orders" });
  assert.match((await page("/orders")).text, /2 × Pear/);
  assert.match((await page("/cart")).text, /Your cart is empty/);
});

test("shop - the SDK works from Hono too: examples/hono-cart keeps a session in the store and applies a retried add once", async () => {
  const entry = new URL("../examples/hono-cart/server.ts", import.meta.url).pathname;
  const hono = await launch({
    name: "hono-cart",
    command: nodeBin,
    args: [entry],
    env: { ...process.env, REDSHIRT_PLANET: tp.planetFile, REDSHIRT_SITE: "x", HOST: "127.102.9.1", PORT: "0" },
    isReady: (line) => (line.includes('"event":"ready"') ? JSON.parse(line).url : undefined),
    readyTimeoutMs: 60_000,
  });
  try {
    const url = String(hono.ready);
    let cookie = "";
    const call = async (method: string, path: string, body?: unknown, key?: string) => {
      const res = await request(`${url}${path.slice(1)}`, {
        method: method as "GET",
        headers: { cookie, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const set = res.headers["set-cookie"];
      if (set) cookie = (Array.isArray(set) ? set[0] : set).split(";")[0];
      return { status: res.statusCode, body: await res.body.json(), instance: res.headers["x-served-instance"] };
    };
    assert.equal((await call("GET", "/cart")).status, 401);
    const login = await call("POST", "/login", { user: "hono-1" });
    assert.equal(login.status, 200);
    assert.match(cookie, /^hono_session=[A-Za-z0-9_-]+\./);
    assert.deepEqual((await call("POST", "/cart", { item: "apple", quantity: 2 }, "h-1")).body, { apple: 2 });
    assert.deepEqual(
      (await call("POST", "/cart", { item: "apple", quantity: 2 }, "h-1")).body,
      { apple: 2 },
      "retried: once",
    );
    const read = await call("GET", "/cart");
    assert.deepEqual(read.body, { apple: 2 });
    assert.match(String(read.instance), /^x-app-/);
  } finally {
    await hono.stop();
  }
});

test("shop - no instance counted a server error", async () => {
  for (const site of sites) {
    const rows = (await status(tp, site)).instances.filter((r) => r.tier === "app" && r.address && r.state === "ready");
    assert.ok(rows.length >= 1, `${site} has a running app`);
    for (const r of rows) {
      const res = await request(`http://${r.address}/metrics`);
      const text = await res.body.text();
      assert.match(text, /^shop_errors_total 0$/m, `${r.id}: ${text.match(/^shop_errors_total.*$/gm)}`);
      assert.match(text, /^shop_idempotency_keep_failures_total 0$/m);
    }
  }
});
