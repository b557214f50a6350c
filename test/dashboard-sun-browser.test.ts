// The follow-the-sun clock speed as a dashboard control, in a real browser (Debian's chromium,
// headless, playwright-core) on a one-site planet that follows the sun, brought up by
// `redshirt up`: read-only, the speed control is disabled; with the token, choosing 3600×
// and "set speed" makes the sun clock on the page run an hour per real second, going on from
// the simulated time it showed (no jump), and the site's supervisor runs the same clock.
// Back to 1× it runs at real time again. Screenshot: test-output/browser/sun-clock-3600-1280.png.
// Addresses: 127.190.0.0/16 belongs to this file (site s; its .6.2 serves the dashboard).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { callControl, planetDataDir, type SiteStatus, stopPlanet } from "../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { launchChromium } from "./support/browser.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const cliMain = join(repoRoot, "src/cli/main.ts");
const shotsDir = join(repoRoot, "test-output/browser");
const dir = mkdtempSync(join(tmpdir(), "redshirt-dashboard-sun-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: dashsun
zone: dashsun.test.
sites:
  - { name: s, city: Quito, lat: -0.18, lon: -78.47, subnet: 127.190.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
sun:
  peakInstances: 1
  minInstances: 1
  clockSpeed: 1
  curve:
    - { hour: 0, share: 1 }
`,
);
const planet = loadPlanet(planetFile);
let up: Launched | undefined;
let link = "";
let browser: Browser | undefined;

before(async () => {
  mkdirSync(shotsDir, { recursive: true });
  up = await launch({
    name: "redshirt up",
    command: nodeBin,
    args: [cliMain, "up", "--planet", planetFile],
    cwd: repoRoot,
    isReady: (line) => line.startsWith("(up in"),
    onLine: (line) => {
      const m = /^dashboard: (\S+)/.exec(line);
      if (m) link = m[1];
    },
    readyTimeoutMs: 120_000,
  });
  assert.match(link, /^http:\/\/127\.190\.6\.2:\d+\/#token=[0-9a-f]{32,}$/, up.tail());
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await up?.stop(30_000);
  await stopPlanet({ planet, secret: loadPlanetSecret(planetDataDir(planet)) }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

async function openPage(url: string): Promise<Page> {
  assert.ok(browser);
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(url, { waitUntil: "load" });
  await page.waitForSelector('.site-card[data-site="s"] .tier');
  return page;
}

type Reading = { simMs: number; nowMs: number; speed: number };

async function clock(page: Page): Promise<Reading> {
  return await page.$eval("#clock", (e) => {
    const d = (e as unknown as { dataset: Record<string, string> }).dataset;
    return { simMs: Number(d.simMs), nowMs: Number(d.nowMs), speed: Number(d.speed) };
  });
}

/** The sun clock's rate on the page: simulated ms per real ms between two views ~2 s apart. */
async function rate(page: Page): Promise<number> {
  const a = await clock(page);
  await new Promise((r) => setTimeout(r, 2_000));
  const b = await clock(page);
  assert.ok(b.nowMs > a.nowMs, "the page got new views");
  return (b.simMs - a.simMs) / (b.nowMs - a.nowMs);
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await ok().catch(() => false))) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms (${up?.tail()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

test("dashboard sun - read-only, the clock speed control is disabled", async () => {
  const page = await openPage(link.split("#")[0]);
  assert.equal(await page.locator('button[data-action="sun-speed"]').isDisabled(), true);
  await page.context().close();
});

test("dashboard sun - set speed 3600×: the page's sun clock runs an hour a second from where it stood, as the site's supervisor does; 1× again", async () => {
  const page = await openPage(link);
  assert.equal(await page.locator('button[data-action="sun-speed"]').isDisabled(), false);
  await until("the page shows the sun clock", 10_000, async () => (await clock(page)).simMs > 0);
  const r1 = await rate(page);
  assert.ok(Math.abs(r1 - 1) < 0.01, `the planet file's 1×: ${r1}`);
  const before = await clock(page);
  const clickedMs = Date.now();
  await page.selectOption("#sun-speed", "3600");
  // An operator who picks a speed, looks away and clicks later: new views arrive between the
  // pick and the click, and must not reset the pick (they did: "set speed" sent ×1 again).
  await page.locator("#sun-speed").blur();
  const picked = await clock(page);
  await until("a new view after the pick", 10_000, async () => (await clock(page)).nowMs > picked.nowMs);
  assert.equal(await page.locator("#sun-speed").inputValue(), "3600", "the pick survives a new view");
  await page.click('button[data-action="sun-speed"]');
  // The change goes page → dashboard → every supervisor → the dashboard's next poll → the
  // page's next view: seconds on a loaded 2-core CI machine (the time is printed).
  const shownMs = await until("the page shows ×3600", 10_000, async () => (await clock(page)).speed === 3600);
  const after = await clock(page);
  console.log(`# sun clock ×3600 on the page ${shownMs} ms after the click`);
  // Continuity: from the reading before the click the clock ran at 1× up to the change and at
  // most 3600× after it — never a jump ahead or back.
  const realMs = after.nowMs - before.nowMs;
  assert.ok(after.simMs - before.simMs >= realMs * 0.99, "not back in time");
  assert.ok(after.simMs - before.simMs <= realMs * 3600 + 1, "no jump ahead");
  assert.ok(Date.now() - clickedMs < 15_000);
  const r2 = await rate(page);
  assert.ok(Math.abs(r2 - 3600) / 3600 < 0.01, `an hour per real second: ${r2}`);
  assert.match((await page.locator("#clock").textContent()) ?? "", /×3600/);
  const sup = planet.supervisors[0];
  const st = await callControl<SiteStatus>(
    { host: sup.host, port: sup.port, site: "s" },
    loadPlanetSecret(planetDataDir(planet)),
    "status",
  );
  assert.equal(st.sun?.clockSpeed, 3600, "the supervisor runs the clock the page set");
  await page.screenshot({ path: join(shotsDir, "sun-clock-3600-1280.png"), fullPage: true });
  await page.selectOption("#sun-speed", "1");
  await page.click('button[data-action="sun-speed"]');
  await until("the page shows ×1", 10_000, async () => (await clock(page)).speed === 1);
  const r3 = await rate(page);
  assert.ok(Math.abs(r3 - 1) < 0.01, `real time again: ${r3}`);
  const log = (await page.locator("#events").textContent()) ?? "";
  assert.ok(log.includes("sun clock ×3600") && log.includes("sun clock ×1"), "the event log shows both");
  const errors = await page.$$eval('#events li[data-kind="error"]', (els) => els.map((e) => e.textContent));
  assert.deepEqual(errors, [], "no action failed");
  await page.context().close();
});
