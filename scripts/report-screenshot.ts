// Opens a proof's report.html in headless chromium (from file://, as a reader does) and saves
// a full-page screenshot: `node scripts/report-screenshot.ts DIR/report.html OUT.png`. Prints
// what the page logged as errors and every request it made (there should be one: the file).
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { launchChromium } from "../test/support/browser.ts";

const [reportFile, outFile] = process.argv.slice(2);
if (!reportFile || !outFile) {
  console.error("usage: node scripts/report-screenshot.ts REPORT.html OUT.png");
  process.exit(2);
}
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const requests: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("console", (m) => m.type() === "error" && console.log(`console error: ${m.text()}`));
  page.on("pageerror", (err) => console.log(`page error: ${err.message}`));
  await page.goto(pathToFileURL(resolve(reportFile)).href, { waitUntil: "load", timeout: 20_000 });
  await page.waitForFunction('document.body.dataset.charts === "3"', undefined, { timeout: 10_000 });
  mkdirSync(dirname(resolve(outFile)), { recursive: true });
  await page.screenshot({ path: outFile, fullPage: true });
  console.log(`${outFile}: ${await page.locator(".chart canvas").count()} charts; requests: ${requests.join(" ")}`);
} finally {
  await browser.close();
}
