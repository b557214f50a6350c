// The proof's HTML report in a real browser (Debian's chromium, headless, driven by
// playwright-core), opened from file:// as a reader opens it from an evidence folder: the
// three charts draw (a canvas each, uPlot ran), the page logs no error, asks the network for
// nothing but the file itself, and a hostile user name and error message in the history run
// no script. The history is a simulated correct run of 16 users (with its site loss) plus
// one user named like an attack, whose error fails the verdict. A screenshot goes to
// test-output/browser/proof-report.png.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import {
  checkHistory,
  fileSource,
  formatHistoryLine,
  type HistoryRecord,
  writeHtmlReport,
} from "../src/verify/index.ts";
import { simulateCorrectRun } from "../src/verify/testkit/index.ts";
import { launchChromium } from "./support/browser.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const shotsDir = join(repoRoot, "test-output/browser");
const hostile = "</script><script>alert(1)</script>";
const dir = mkdtempSync(join(tmpdir(), "redshirt-report-browser-"));
let browser: Browser | undefined;

after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A correct simulated run, with one more user whose only op failed with a hostile message. */
function history(): HistoryRecord[] {
  const records = simulateCorrectRun({ seed: 7, users: 16, opsPerUser: 150 }).records;
  const end = records.pop();
  assert.ok(end?.type === "end");
  records.push({
    type: "op",
    kind: "page",
    user: hostile,
    region: "nr",
    startMs: 3_000,
    endMs: 3_400,
    attempts: 3,
    outcome: { result: "error", status: 502, message: `<!-- ${hostile}` },
  });
  records.push({ ...end, ops: end.ops + 1 });
  return records;
}

test("proof report - opened from file:// in chromium, its three charts draw, with no error and no request but the file", async () => {
  const historyFile = join(dir, "history.jsonl");
  writeFileSync(historyFile, history().map(formatHistoryLine).join(""));
  const report = await checkHistory(fileSource(historyFile), { opsMin: 100 });
  assert.equal(report.verdict, "fail", "the hostile user's error");
  const reportFile = join(dir, "report.html");
  await writeHtmlReport(fileSource(historyFile), report, [reportFile]);

  browser = await launchChromium();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("dialog", (d) => {
    problems.push(`a dialog opened: ${d.message()}`);
    void d.dismiss();
  });
  page.on("request", (r) => requests.push(r.url()));
  const url = pathToFileURL(reportFile).href;
  await page.goto(url, { waitUntil: "load", timeout: 20_000 });
  // The charts' script marks the body when it has drawn them (a string: the test has no DOM types).
  await page.waitForFunction('document.body.dataset.charts === "3"', undefined, { timeout: 10_000 });

  const canvases = await page.locator(".chart canvas").count();
  assert.equal(canvases, 3, "one canvas per chart");
  const sizes = await page.$$eval(".chart canvas", (cs) => cs.map((c) => [c.width, c.height]));
  for (const [w, h] of sizes) assert.ok(w > 400 && h > 100, `a canvas of ${w}x${h}`);
  assert.equal(await page.locator("#verdict").textContent(), "FAIL");
  assert.match((await page.locator("body").textContent()) ?? "", /alert\(1\)/, "the hostile name shown as text");
  assert.equal(await page.locator("script").count(), 3, "no script element injected");
  mkdirSync(shotsDir, { recursive: true });
  await page.screenshot({ path: join(shotsDir, "proof-report.png"), fullPage: true });
  assert.deepEqual(problems, []);
  assert.deepEqual(requests, [url], "nothing fetched but the report itself");
});
