// A user shops in a real browser (Debian's chromium, headless, driven by playwright-core)
// through the demo shop's HTML pages on a three-site planet of real processes, while the
// app instance that served them is SIGKILLed and then every process of their nearest site
// is. They log in, add to the cart, see the cart again after the instance died (another
// instance answers), see it again after the whole site died (the next site answers, with
// the same session cookie), check out once, and the orders page shows exactly one order.
// A screenshot after each step goes to test-output/browser/.
//
// How the browser finds the shop: Chromium resolves names through the machine's resolver
// (port 53), which cannot be pointed at this planet's GSLB DNS servers on their test port
// without changing the resolver of everyone on the machine. So the service name is mapped
// (`--host-resolver-rules`) to a byte relay (support/resolver-relay.ts) that does per TCP
// connection what the browser's own stack does with a real DNS answer: ask the GSLB DNS on
// the wire with the user's region as client subnet, keep the answer for its TTL, connect to
// the first address and, when that connection is refused, the next one. It never reads or
// changes HTTP: the cookies, redirects and pages are the browser's and the gateway's. The
// user sits next to site a, so the DNS answers a first; after a dies, the first connection
// may still use the cached answer and fall to b, and once the TTL has passed the answer no
// longer names a at all. (The browser keeps its connection to b alive, so later pages do not
// need a new answer; that a left it is asserted on the DNS answer itself.)
// Addresses: 127.125.0.0/16 – 127.128.0.0/16 belong to this file (sites a, b, c; the relay).
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Locator, Page, Response } from "playwright-core";
import { ownedProcesses, type SiteStatus } from "../src/cattle/index.ts";
import type { Launched } from "../src/core/index.ts";
import { launchChromium } from "./support/browser.ts";
import { resolveService, type ServiceQuery } from "./support/dns-users.ts";
import { isAlive } from "./support/processes.ts";
import { type ResolverRelay, startResolverRelay } from "./support/resolver-relay.ts";
import {
  cleanup,
  killQuietly,
  startSupervisor,
  status,
  type TestPlanet,
  waitStatus,
  writePlanet,
} from "./support/supervised.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const shopEntry = join(repoRoot, "examples/shop/server.ts");
const shotsDir = join(repoRoot, "test-output/browser");
const service = "www.browser.test";
const sites = ["a", "b", "c"] as const;

const tp: TestPlanet = writePlanet(
  "redshirt-browser-",
  `name: browsertest
zone: browser.test.
services: [{ name: www, fallbackSites: 2 }]
sites:
  - { name: a, city: A, lat: 48.8, lon: 2.3, subnet: 127.125.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 51.5, lon: -0.1, subnet: 127.126.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: c, city: C, lat: 40.7, lon: -74.0, subnet: 127.127.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
clients:
  - { name: paris, cidr: 10.7.0.0/16, lat: 48.9, lon: 2.4 }
store: { partitions: 4, rf: 1, dataDir: data }
dns: { ttlS: 5 }
wan: { mode: direct }
`,
);
const { planet } = tp;
const siteOf = (host: string | undefined) => planet.gateways.find((g) => g.host === host)?.site ?? `?${host}`;
const query: ServiceQuery = {
  dnsServers: planet.dnsServers.map((d) => ({ host: d.host, port: planet.ports.dns })),
  name: service,
  ecs: { ip: "10.7.0.0", prefix: 16 },
  ttlMsMax: 5_000,
};
const origin = `http://${service}:${planet.ports.gateway}`;
const supervisors = new Map<string, Launched>();
let relay: ResolverRelay | undefined;
let browser: Browser | undefined;

/** One page the browser loaded: what it asked, and who answered. */
type Served = { method: string; path: string; status: number; site: string; instance: string };
const served: Served[] = [];

async function dnsSites(): Promise<string[]> {
  return [...new Set((await resolveService(query)).addresses.map(siteOf))];
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  // Only this test's own shots go (NN-name.png): other browser tests write beside them.
  mkdirSync(shotsDir, { recursive: true });
  for (const f of readdirSync(shotsDir)) if (/^\d\d-.*\.png$/.test(f)) rmSync(join(shotsDir, f), { force: true });
  const allReady = (s: SiteStatus) => s.ready && s.instances.every((r) => r.state === "ready");
  await Promise.all(sites.map(async (s) => supervisors.set(s, await startSupervisor(tp, s, ["--app", shopEntry]))));
  await Promise.all(sites.map((s) => waitStatus(tp, s, allReady, 60_000, `${s} ready`)));
  await until("the DNS answers the user's region with a, b, c", 20_000, async () => {
    const l = await dnsSites();
    return l.join() === "a,b,c";
  });
  relay = await startResolverRelay({
    host: "127.128.0.1",
    port: planet.ports.gateway,
    gatewayPort: planet.ports.gateway,
    query,
  });
  browser = await launchChromium([`--host-resolver-rules=MAP ${service} ${relay.host}`]);
});

after(async () => {
  await browser?.close();
  await relay?.close();
  await cleanup(tp, sites, [...supervisors.values()]);
});

const pageTimeoutMs = 20_000;

/** Opens an address (or reloads the page) as a user does, and records who served it. */
async function visit(page: Page, path: string | "reload"): Promise<Served> {
  return await navigate(page, () =>
    path === "reload"
      ? page.reload({ waitUntil: "load", timeout: pageTimeoutMs })
      : page.goto(`${origin}${path}`, { waitUntil: "load", timeout: pageTimeoutMs }),
  );
}

/** Presses a form's button and follows where the shop sends the browser (a 303 to the next page). */
async function submit(page: Page, button: Locator): Promise<Served> {
  return await navigate(page, async () => {
    await Promise.all([page.waitForNavigation({ waitUntil: "load", timeout: pageTimeoutMs }), button.click()]);
  });
}

async function navigate(page: Page, go: () => Promise<unknown>): Promise<Served> {
  const seen: Response[] = [];
  const onResponse = (r: Response) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) seen.push(r);
  };
  page.on("response", onResponse);
  try {
    await go();
  } finally {
    page.off("response", onResponse);
  }
  let last: Served | undefined;
  for (const r of seen) {
    const h = r.headers();
    last = {
      method: r.request().method(),
      path: new URL(r.url()).pathname,
      status: r.status(),
      site: h["x-served-site"] ?? "?",
      instance: h["x-served-instance"] ?? "?",
    };
    served.push(last);
  }
  assert.ok(last, "the browser loaded a document");
  for (const r of served.slice(-seen.length)) assert.ok(r.status < 400, `${r.method} ${r.path}: HTTP ${r.status}`);
  assert.equal(last.status, 200, `${last.method} ${last.path}: HTTP ${last.status}\n${await page.content()}`);
  return last;
}

let shot = 0;
async function screenshot(page: Page, name: string): Promise<void> {
  shot++;
  await page.screenshot({ path: join(shotsDir, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
}

// What the shop's pages look like to a user: these read and press what a person would.
async function logIn(page: Page, user: string): Promise<Served> {
  await visit(page, "/login");
  await screenshot(page, "login");
  await page.fill('input[name="user"]', user);
  return await submit(page, page.locator('form[action="/login"] button'));
}

async function addToCart(page: Page, item: string, quantity: number): Promise<Served> {
  await visit(page, "/");
  const form = page.locator(`form[action="/cart/add"]:has(input[name="item"][value="${item}"])`);
  await form.locator('input[name="quantity"]').fill(String(quantity));
  return await submit(page, form.locator("button"));
}

/** The cart as the cart page shows it: each line's item and the quantity in its box. */
async function cartOnPage(page: Page): Promise<Record<string, number>> {
  assert.equal(await page.locator("h1").textContent(), "Cart");
  const cart: Record<string, number> = {};
  for (const line of await page.locator('form[action="/cart/set"]').all()) {
    const item = await line.locator('input[name="item"]').getAttribute("value");
    cart[item ?? "?"] = Number(await line.locator('input[name="quantity"]').inputValue());
  }
  return cart;
}

/** The order ids the orders page lists (the first cell of each row). */
async function ordersOnPage(page: Page): Promise<string[]> {
  assert.equal(await page.locator("h1").textContent(), "Orders");
  return await page.locator("table tr td:first-child").allTextContents();
}

/** Who the page says is signed in, and who it says served it. */
async function pageSays(page: Page): Promise<{ user: string | null; footer: string | null }> {
  return { user: await page.locator("nav b").textContent(), footer: await page.locator("footer").textContent() };
}

async function killPid(pid: number): Promise<void> {
  killQuietly(pid);
  await until(`pid ${pid} gone`, 5_000, async () => !isAlive(pid));
}

test("browser - a user's cart and session survive the SIGKILL of the instance that served them and then of their whole site; one checkout, one order", async () => {
  assert.ok(browser && relay);
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const page = await context.newPage();
  try {
    await shop(page, context);
  } catch (err) {
    // What the user saw when it went wrong is the first thing to look at.
    await screenshot(page, "failure").catch(() => {});
    throw err;
  } finally {
    await context.close();
  }
});

async function shop(page: Page, context: BrowserContext): Promise<void> {
  assert.ok(relay);
  const user = "ada";

  const login = await logIn(page, user);
  assert.equal(login.site, "a", "the user's nearest site serves them");
  assert.deepEqual(await pageSays(page), { user, footer: `served by ${login.instance} in a` });
  await screenshot(page, "logged-in");
  const cookie = async () => (await context.cookies()).find((c) => c.name === "rs_session");
  const sessionCookie = async () => (await cookie())?.value.split(".")[0];
  const sessionId = await sessionCookie();
  assert.ok(sessionId, "the shop set its session cookie");
  const set = await cookie();
  assert.deepEqual(
    { httpOnly: set?.httpOnly, sameSite: set?.sameSite, path: set?.path },
    { httpOnly: true, sameSite: "Lax", path: "/" },
    "the session cookie is out of scripts' reach and not sent on cross-site posts",
  );

  await addToCart(page, "apple", 2);
  await addToCart(page, "pear", 1);
  const cartPage = await visit(page, "/cart");
  assert.deepEqual(await cartOnPage(page), { apple: 2, pear: 1 });
  assert.equal(cartPage.site, "a");
  await screenshot(page, "cart");

  // The instance that served the cart page dies, without a chance to say goodbye.
  const victim = (await status(tp, "a")).instances.find((r) => r.id === cartPage.instance);
  assert.ok(victim?.pid, `instance ${cartPage.instance} is in a's status`);
  await killPid(victim.pid);
  const afterInstance = await visit(page, "reload");
  assert.notEqual(afterInstance.instance, cartPage.instance, "another instance answered");
  assert.deepEqual(await cartOnPage(page), { apple: 2, pear: 1 }, "the cart after the instance died");
  await screenshot(page, "cart-after-instance-kill");

  // The whole nearest site dies: its supervisor first (it would replace what dies), then
  // every process that carries the site's owner tag — store, apps, gateway, DNS server.
  // Its supervisor has replaced the dead instance by then: the site is whole when it goes.
  const whole = await waitStatus(
    tp,
    "a",
    (s) => s.ready && s.instances.every((r) => r.state === "ready"),
    30_000,
    "a whole again",
  );
  const sitePids = whole.instances.flatMap((r) => (r.pid ? [r.pid] : []));
  assert.equal(sitePids.length, 5, `a's store, two apps, gateway and DNS server: ${JSON.stringify(whole.instances)}`);
  await killPid(supervisors.get("a")!.child.pid!);
  await Promise.all([...new Set([...sitePids, ...ownedProcesses(planet, "a")])].map(killPid));
  assert.deepEqual(ownedProcesses(planet, "a"), [], "no process of a is left");
  const siteDeadAtMs = performance.now();
  const connectionsBefore = relay.connections.length;
  const afterSite = await visit(page, "/cart");
  const firstAfterSiteMs = performance.now() - siteDeadAtMs;
  assert.equal(afterSite.site, "b", "the next site serves the user");
  assert.deepEqual(await cartOnPage(page), { apple: 2, pear: 1 }, "the cart after the site died");
  assert.equal(await sessionCookie(), sessionId, "the same session");
  assert.deepEqual(await pageSays(page), { user, footer: `served by ${afterSite.instance} in b` }, "still signed in");
  const fallbacks = relay.connections.slice(connectionsBefore).filter((c) => c.failed.length > 0);
  await screenshot(page, "cart-after-site-kill");

  // After its TTL the user's DNS answer changes: a is gone from it.
  await until("the DNS answer no longer names a", 10_000, async () => !(await dnsSites()).includes("a"));
  const dnsMs = performance.now() - siteDeadAtMs;

  await visit(page, "/cart");
  const checkout = await submit(page, page.locator('form[action="/checkout"] button'));
  assert.equal(checkout.site, "b");
  const orders = await ordersOnPage(page);
  assert.equal(orders.length, 1, `orders on the page: ${orders}`);
  assert.match((await page.locator("table tr:has(td)").textContent()) ?? "", /2 × Apple, 1 × Pear/);
  await screenshot(page, "orders");
  await visit(page, "reload");
  assert.deepEqual(await ordersOnPage(page), orders, "a reload shows the same one order");
  await visit(page, "/cart");
  assert.deepEqual(await cartOnPage(page), {}, "the cart is empty after checkout");
  await screenshot(page, "cart-after-checkout");
  // Every connection the browser made once a was dead reached b: a fallback hid a's refusal,
  // nothing reached a dead address, and no connection found no address at all.
  const sinceKill = relay.connections.slice(connectionsBefore);
  assert.ok(sinceKill.length > 0, "the browser connected again after a died");
  for (const c of sinceKill) assert.equal(siteOf(c.address), "b", `connection ${JSON.stringify(c)}`);
  // The instances that served the rest of the visit never failed a request on their side.
  for (const site of ["b", "c"]) {
    for (const r of (await status(tp, site)).instances.filter((x) => x.tier === "app" && x.address)) {
      const text = await (await fetch(`http://${r.address}/metrics`)).text();
      assert.match(text, /^shop_requests_total/m, `${r.id} exposes the shop's metrics`);
      assert.doesNotMatch(text, /^shop_errors_total(\{[^}]*\})? [1-9]/m, `${r.id}: server-side errors`);
    }
  }
  console.log(
    `measured: ${served.length} pages (${served.map((s) => `${s.method} ${s.path} ${s.instance}`).join(", ")}); ` +
      `the first page after a died took ${Math.round(firstAfterSiteMs)} ms; ` +
      `${fallbacks.length} connection(s) fell from a to the next address; a was out of the DNS answer at most ${Math.round(dnsMs)} ms after it died (a query to its dead DNS server waits 1 s); screenshots in ${shotsDir}`,
  );
}
