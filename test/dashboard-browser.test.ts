// The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core)
// on a three-site planet of real processes brought up by `redshirt up`, which prints the
// dashboard's link with the control token. The page shows three sites; with virtual users
// running, each client region's arc goes to its nearest site; "kill site" on the one serving
// Europe moves Europe's arcs to another site within 3 s, and "heal" brings the site back;
// "kill" on one app instance makes its replacement (a new id in the same slot) appear,
// ready; scale up and down, partition and heal, evacuate and restore, the monkey started
// and stopped. Without the token the page is read-only and the server refuses an action (401).
// When `up` is SIGKILLed the page says it is disconnected; a new `up` adopts the planet and
// the page reconnects by itself. `redshirt load` run in another process (users the page does
// not run) draws its arcs too, from the gateways' counts by region. Every request the browser made went to the dashboard's own
// address. Screenshots at 1280 and 390 px wide go to test-output/browser/dashboard-*.png.
// Addresses: 127.223.0.0/16 – 127.228.0.0/16 belong to this file (sites a, b, c at .223–.225,
// whose first site's .6.2 serves the dashboard; the regions' access links at .226–.228).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { planetDataDir, stopPlanet } from "../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { launchChromium } from "./support/browser.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const cliMain = join(repoRoot, "src/cli/main.ts");
const shotsDir = join(repoRoot, "test-output/browser");
const dir = mkdtempSync(join(tmpdir(), "redshirt-dashboard-browser-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: dashbrowser
zone: dash.test.
# As the demo planet (examples/planet.yaml): an answer lists the nearest site, then one
# fallback, so a user whose site died tries the next address at once instead of asking the
# DNS again (its dead DNS server costs a 1 s timeout) — what the page must show within 3 s.
services: [{ name: www, fallbackSites: 1 }]
sites:
  - { name: a, city: Paris, lat: 48.86, lon: 2.35, subnet: 127.223.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: b, city: New York, lat: 40.71, lon: -74.01, subnet: 127.224.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: c, city: Singapore, lat: 1.35, lon: 103.82, subnet: 127.225.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
clients:
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68, subnet: 127.226.0.0/16 }
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0, subnet: 127.227.0.0/16 }
  - { name: asia, cidr: 10.5.0.0/16, lat: 35.68, lon: 139.69, subnet: 127.228.0.0/16 }
store: { partitions: 4, rf: 1, dataDir: data }
dns: { ttlS: 2 }
`,
);
const planet = loadPlanet(planetFile);
const upTimeoutMs = 120_000;
let up: Launched | undefined;
let operatorUrl = "";
let browser: Browser | undefined;
const requested: string[] = [];

/** `redshirt up` of the test's planet; resolves with the dashboard link it printed. */
async function startUp(): Promise<{ launched: Launched; link: string }> {
  let link = "";
  const launched = await launch({
    name: "redshirt up",
    command: nodeBin,
    args: [cliMain, "up", "--planet", planetFile],
    cwd: repoRoot,
    isReady: (line) => line.startsWith("(up in"),
    onLine: (line) => {
      const m = /^dashboard: (\S+)/.exec(line);
      if (m) link = m[1];
    },
    readyTimeoutMs: upTimeoutMs,
  });
  return { launched, link };
}

before(async () => {
  mkdirSync(shotsDir, { recursive: true });
  for (const f of readdirSync(shotsDir)) if (f.startsWith("dashboard-")) rmSync(join(shotsDir, f));
  const started = await startUp();
  up = started.launched;
  operatorUrl = started.link;
  assert.match(operatorUrl, /^http:\/\/127\.223\.6\.2:7700\/#token=[0-9a-f]{32,}$/, up.tail());
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await up?.stop(30_000);
  // Whatever is left (a failed test) is found by its owner tag and stopped.
  await stopPlanet({ planet, secret: loadPlanetSecret(planetDataDir(planet)) }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function openPage(url: string, width: number, height: number): Promise<Page> {
  assert.ok(browser);
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.on("request", (r) => requested.push(r.url()));
  await page.goto(url, { waitUntil: "load" });
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(shotsDir, `dashboard-${name}.png`), fullPage: true });
}

/** The arcs the page draws now: region → site. */
async function arcs(page: Page): Promise<{ region: string; site: string }[]> {
  return await page.$$eval("#arcs path.arc", (els) =>
    els.map((e) => ({ region: e.getAttribute("data-region") ?? "", site: e.getAttribute("data-site") ?? "" })),
  );
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await ok().catch(() => false))) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms (${up?.tail()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

test("dashboard - without the token the page is read-only and the server refuses an action", async () => {
  const page = await openPage(operatorUrl.split("#")[0], 1280, 900);
  await page.waitForSelector('.site-card[data-site="c"] .tier');
  assert.equal(await page.locator("#mode").textContent(), "read-only");
  assert.ok(await page.locator("#readonly-note").isVisible());
  const enabled = await page.$$eval(
    "button.ctl",
    (els) => els.filter((e) => !(e as unknown as { disabled: boolean }).disabled).length,
  );
  assert.equal(enabled, 0, "every control is disabled");
  const status = await page.evaluate(async () => {
    const res = await fetch("/api/actions/kill-site", { method: "POST", body: JSON.stringify({ site: "a" }) });
    return [res.status, ((await res.json()) as { error: { code: string } }).error.code];
  });
  assert.deepEqual(status, [401, "RS_ERR_DASHBOARD_UNAUTHORIZED"]);
  await shot(page, "readonly-1280");
  await page.context().close();
});

test("dashboard - kill a site and its users' arcs move to another site within 3 s; heal it; kill an app instance and its replacement appears", async () => {
  const page = await openPage(operatorUrl, 1280, 900);
  await page.waitForSelector("#map g.site");
  assert.equal(await page.locator("#map g.site").count(), 3, "three sites on the map");
  assert.equal(await page.locator(".site-card").count(), 3, "three site cards");
  assert.equal(await page.locator("#mode").textContent(), "operator");
  await until("every site healthy", 60_000, async () => {
    const h = await page.$$eval("#map g.site", (els) => els.map((e) => e.getAttribute("data-health")));
    return h.every((x) => x === "healthy");
  });
  await page.click('button[data-action="users-start"]');
  await until("each region's arc goes to its nearest site", 60_000, async () => {
    const now = await arcs(page);
    return ["europe:a", "us-east:b", "asia:c"].every((p) => now.some((a) => `${a.region}:${a.site}` === p));
  });
  await shot(page, "serving-1280");

  await page.click('.site-card[data-site="a"] button[data-action="kill-site"]');
  const downMs = until(
    "site a shown down",
    3_000,
    async () => (await page.locator('#map g.site[data-site="a"]').getAttribute("data-health")) === "down",
  );
  const movedMs = await until("europe's arcs leave a for another site", 3_000, async () => {
    const now = await arcs(page);
    return !now.some((a) => a.site === "a") && now.some((a) => a.region === "europe" && a.site !== "a");
  });
  console.log(`# site a shown down ${await downMs} ms, europe's arcs off it ${movedMs} ms after the click`);
  await page.waitForSelector('#events li[data-kind="action"]');
  await shot(page, "site-killed-1280");

  await page.click('.site-card[data-site="a"] button[data-action="heal-site"]');
  await until(
    "site a healthy again",
    90_000,
    async () => (await page.locator('#map g.site[data-site="a"]').getAttribute("data-health")) === "healthy",
  );
  await until("europe served by a again", 30_000, async () =>
    (await arcs(page)).some((a) => a.region === "europe" && a.site === "a"),
  );
  await shot(page, "site-healed-1280");

  const slot = page.locator('.site-card[data-site="b"] li.inst[data-slot="app#1"]');
  const before = await slot.getAttribute("data-id");
  assert.ok(before, "app#1 of b runs an instance");
  await slot.locator('button[data-action="kill-instance"]').click();
  const replacedMs = await until("a replacement in b's app#1, ready", 30_000, async () => {
    const id = await slot.getAttribute("data-id");
    return id !== null && id !== "" && id !== before && (await slot.getAttribute("data-state")) === "ready";
  }).catch(async (err) => {
    // What the page logged since (an action refused or not answered says why nothing moved).
    const log = await page.$$eval("#events li", (els) => els.slice(0, 12).map((e) => e.textContent));
    throw new Error(`${(err as Error).message}\nthe page's latest events:\n${log.join("\n")}`, { cause: err });
  });
  console.log(
    `# b app#1 ${before} replaced by ${await slot.getAttribute("data-id")}, ready ${replacedMs} ms after the click`,
  );
  await page.waitForSelector('#events li[data-kind="replaced"]');
  await shot(page, "instance-replaced-1280");
  const lags = (await page.evaluate("window.dashboardEventLagsMs")) as number[];
  assert.ok(lags.length > 10, "events reached the page");
  console.log(`# server → screen per event: max ${Math.max(...lags)} ms over ${lags.length} events`);
  assert.ok(
    Math.max(...lags) < 1_000,
    `every event on screen within 1 s of the server learning it (${lags.join(", ")})`,
  );

  const phone = await openPage(operatorUrl, 390, 844);
  await phone.waitForSelector('.site-card[data-site="c"] .tier');
  await until("the phone's map shows arcs", 10_000, async () => (await arcs(phone)).length > 0);
  const overflow = (await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")) as number;
  assert.ok(overflow <= 1, `the page fits a phone's width (overflow ${overflow} px)`);
  await shot(phone, "phone-390");
  await phone.context().close();

  // `up` dies (the planet keeps serving): the page says so; a new `up` adopts the planet and the page reconnects.
  up?.kill("SIGKILL");
  await up?.exited;
  await until("the page says it lost its server", 5_000, async () => page.locator("#banner").isVisible());
  assert.match((await page.locator("#banner").textContent()) ?? "", /disconnected — reconnecting/);
  await shot(page, "disconnected-1280");
  up = (await startUp()).launched;
  await until("the page reconnects by itself", 30_000, async () => !(await page.locator("#banner").isVisible()));
  await until(
    "a fresh view after reconnecting",
    10_000,
    async () => (await page.locator("#conn").textContent()) === "live",
  );
  await page.context().close();
});

test("dashboard - scale an app tier up and down, partition and heal two sites, evacuate and restore a site, start and stop the monkey", async () => {
  const page = await openPage(operatorUrl, 1280, 900);
  await page.waitForSelector('.site-card[data-site="c"] .tier');
  await page.click('button[data-action="users-start"]');
  await until("asia served by c", 60_000, async () =>
    (await arcs(page)).some((a) => a.region === "asia" && a.site === "c"),
  );

  const appTier = page.locator('.site-card[data-site="b"] .tier[data-tier="app"]');
  await appTier.locator('button[data-action="scale"]', { hasText: "+" }).click();
  await until("a third app instance in b, ready", 30_000, async () => {
    return (await appTier.locator('li.inst[data-slot="app#3"]').getAttribute("data-state")) === "ready";
  });
  await appTier.locator('button[data-action="scale"]', { hasText: "−" }).click();
  await until("b back to two app instances", 30_000, async () => (await appTier.locator("li.inst").count()) === 2);

  await page.selectOption("#link-a", "a");
  await page.selectOption("#link-b", "c");
  await page.click('#controls button[data-action="partition"]');
  await page.waitForSelector('#links line.cut[data-cut="a|c"]', { timeout: 5_000 });
  await shot(page, "partition-1280");
  await page.click('#controls button[data-action="heal-link"]');
  await page.waitForSelector('#links line.cut[data-cut="a|c"]', { state: "detached", timeout: 5_000 });

  await page.click('.site-card[data-site="c"] button[data-action="evacuate"]');
  await until("c evacuated and asia's users served elsewhere", 60_000, async () => {
    const health = await page.locator('#map g.site[data-site="c"]').getAttribute("data-health");
    const now = await arcs(page);
    return health === "evacuated" && !now.some((a) => a.site === "c") && now.some((a) => a.region === "asia");
  });
  await shot(page, "evacuated-1280");
  await page.click('.site-card[data-site="c"] button[data-action="restore"]');
  await until("c serving asia again", 90_000, async () =>
    (await arcs(page)).some((a) => a.region === "asia" && a.site === "c"),
  );

  await page.fill("#monkey-rate", "30");
  await page.click('#controls button[data-action="monkey-start"]');
  await until("the monkey runs", 5_000, async () =>
    /^running/.test((await page.locator("#monkey-state").textContent()) ?? ""),
  );
  await page.click('#controls button[data-action="monkey-stop"]');
  await until(
    "the monkey stopped",
    5_000,
    async () => (await page.locator("#monkey-state").textContent()) === "stopped",
  );
  await page.click('button[data-action="users-stop"]');
  const log = await page.locator("#events").textContent();
  for (const what of [
    "scale b app 3",
    "scale b app 2",
    "wan cut a c",
    "wan heal a c",
    "evacuate c",
    "restore c",
    "monkey started",
    "monkey stopped",
  ]) {
    assert.ok(log?.includes(what), `the event log shows "${what}"`);
  }
  const errors = await page.$$eval('#events li[data-kind="error"]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(errors, [], "no action failed");
  await page.context().close();
});

test("dashboard - `redshirt load` in another process: its users' arcs appear from the gateways' counts by region, and go when it stops", async () => {
  const page = await openPage(operatorUrl, 1280, 900);
  await page.waitForSelector('.site-card[data-site="c"] .tier');
  await until("no arcs while no users run", 15_000, async () => (await arcs(page)).length === 0);
  assert.match((await page.locator("#load-state").textContent()) ?? "", /^stopped/, "the page's own users do not run");
  const load = spawn(
    nodeBin,
    [cliMain, "load", "--planet", planetFile, "--duration", "90s", "--users", "1", "--out", join(dir, "ext.jsonl")],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] },
  );
  let loadOut = "";
  load.stdout.on("data", (c) => {
    loadOut += c;
  });
  load.stderr.on("data", (c) => {
    loadOut += c;
  });
  const loadExited = new Promise((r) => load.once("exit", r));
  const killTimer = setTimeout(() => load.kill("SIGKILL"), 120_000);
  try {
    const seenMs = await until("each region's arc, seen by the gateways, to its nearest site", 60_000, async () => {
      const now = await page.$$eval("#arcs path.arc", (els) =>
        els.map(
          (e) => `${e.getAttribute("data-region")}:${e.getAttribute("data-site")}:${e.getAttribute("data-seen-by")}`,
        ),
      );
      return ["europe:a:gateways", "us-east:b:gateways", "asia:c:gateways"].every((p) => now.includes(p));
    });
    console.log(`# redshirt load's arcs on the page ${seenMs} ms after it was started`);
    // The page's own users did not run: every arc is the gateways'.
    const sources = await page.$$eval("#arcs path.arc", (els) => els.map((e) => e.getAttribute("data-seen-by")));
    assert.ok(
      sources.every((x) => x === "gateways"),
      `arcs seen by ${sources.join(", ")}`,
    );
    const gw = planet.gateways.find((g) => g.site === "a")!;
    const metrics = await (await fetch(`http://${gw.host}:${gw.port}/_redshirt/metrics`)).text();
    const europe = /rs_gateway_requests_by_region_total\{region="europe"\} (\d+)/.exec(metrics);
    assert.ok(europe && Number(europe[1]) > 0, "a's gateway counts europe's requests");
    await shot(page, "external-load-1280");
  } catch (err) {
    throw new Error(`${(err as Error).message}\nredshirt load said: ${loadOut.slice(-2000)}`, { cause: err });
  } finally {
    load.kill("SIGTERM");
    await loadExited;
    clearTimeout(killTimer);
  }
  await until("the arcs go once the load stops", 10_000, async () => (await arcs(page)).length === 0);
  await page.context().close();
});

test("dashboard - every request the browser made, on every page above, went to the dashboard's own address", () => {
  const origin = new URL(operatorUrl).origin;
  const elsewhere = requested.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(elsewhere, [], "every request went to the dashboard's own address");
  assert.ok(
    requested.some((u) => u.endsWith("/vendor/uplot.js")),
    "uPlot came from our server",
  );
});
