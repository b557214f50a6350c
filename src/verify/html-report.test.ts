// The HTML report: self-contained (uPlot's code and CSS inline, nothing fetched from the
// network), the verdict first, the tables filled from the check, the timeline in its JSON
// tag — and a hostile string in the history cannot break out of that tag or into the page.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { arraySource, checkHistory } from "./checker.ts";
import type { HistoryRecord } from "./history.ts";
import { buildHtmlReport, jsonForScript, loadReportAssets, writeHtmlReport } from "./html-report.ts";
import { fileSource } from "./reader.ts";
import { HistoryBuilder } from "./testkit/index.ts";
import { buildTimeline } from "./timeline.ts";

const fixture = fileURLToPath(new URL("./fixtures/history-v1.jsonl", import.meta.url));
const assets = loadReportAssets();
const dir = mkdtempSync(join(tmpdir(), "redshirt-html-report-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const hostile = "</script><script>alert(1)</script>";

/** The JSON data tag's text, as the page's script reads it. */
function dataOf(html: string): unknown {
  const m = html.match(/<script type="application\/json" id="proof-data">([^<]*)<\/script>/);
  assert.ok(m, "the data tag holds no '<' and ends at its own </script>");
  return JSON.parse(m[1]);
}

test("html report - uPlot's code and CSS are inline and nothing is loaded from the network", async () => {
  const report = await checkHistory(fileSource(fixture), { opsMin: 1 });
  const file = join(dir, "fixture.html");
  await writeHtmlReport(fileSource(fixture), report, [file], assets);
  const html = readFileSync(file, "utf8");
  assert.ok(assets.uplotJs.length > 40_000 && html.includes(assets.uplotJs), "uPlot.iife.min.js inline");
  assert.ok(html.includes(assets.uplotCss), "uPlot.min.css inline");
  assert.ok(html.includes(assets.chartsJs), "the charts' script inline");
  assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i, "no remote src or href");
  assert.doesNotMatch(html, /<link\b|<script\b[^>]*\bsrc=|<img\b|@import|url\(\s*["']?https?:/i);
  assert.equal((html.match(/<script\b/g) ?? []).length, 3, "the data, uPlot, the charts");
});

test("html report - the verdict and why come first, then the run, the faults, the site loss and the anomalies", async () => {
  const report = await checkHistory(fileSource(fixture), { opsMin: 1 });
  const timeline = await buildTimeline(fileSource(fixture));
  const html = buildHtmlReport({ report, timeline, assets });
  assert.equal(report.verdict, "fail");
  const verdictAt = html.indexOf('<span id="verdict">FAIL</span>');
  assert.ok(verdictAt > 0 && verdictAt < html.indexOf('id="chart-served"'), "the verdict above the charts");
  for (const reason of report.reasons) assert.ok(html.includes(reason), reason);
  assert.match(html, /<th>seed<\/th><td>42<\/td>/);
  assert.match(html, /<th>commit<\/th><td>cde451e<\/td>/);
  assert.match(html, /<td>f1<\/td><td><span class="fault-kind k-kill-site">kill-site<\/span><\/td><td>lon<\/td>/);
  const loss = report.siteLosses[0];
  assert.ok(html.includes(`<td>f1</td><td>lon</td>`), "the site loss row");
  assert.ok(
    html.includes(`${Math.round(loss.maxWaitMs * 10) / 10} ms (${loss.maxWaitUser})`),
    "its worst wait and whose",
  );
  assert.match(html, /user-visible-error<\/td><td>vu-2<\/td><td>cart\.read <span class="ref">line 12, /);
  assert.deepEqual(dataOf(html), { verdict: "fail", timeline });
  assert.ok(
    !html.includes("Written by redshirt from the run's history.jsonl and its check on"),
    "no date unless given",
  );
});

test("html report - a hostile user name, error message and fault detail cannot break out of the data tag or the tables", async () => {
  const b = new HistoryBuilder().user(hostile, "nr");
  b.op({ kind: "page", user: hostile });
  b.op({
    kind: "cart.read",
    user: hostile,
    outcome: { result: "error", status: 503, message: `<!-- ${hostile} -->` },
  });
  b.fault({ id: "f<1>", kind: "kill-site", target: { site: "north" }, startMs: 1, ttlMs: 5, detail: `${hostile}<!--` });
  const records: HistoryRecord[] = b.build();
  const report = await checkHistory(arraySource(records), { opsMin: 1 });
  const timeline = await buildTimeline(arraySource(records));
  const html = buildHtmlReport({ report, timeline, assets });
  assert.ok(!html.includes("<script>alert(1)"), "no injected script element");
  assert.equal((html.match(/<script\b/gi) ?? []).length, 3);
  assert.equal((html.match(/<\/script/gi) ?? []).length, 3);
  assert.ok(!html.includes("<!--"), "no comment opener anywhere (it changes how a script element is parsed)");
  assert.ok(html.includes("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "the user's name shown as text");
  const data = dataOf(html) as { timeline: { faults: { id: string; detail: string }[] } };
  assert.equal(data.timeline.faults[0].detail, `${hostile}<!--`, "the data reads back exactly");
  assert.equal(data.timeline.faults[0].id, "f<1>");
});

test("html report - the data's JSON escapes every '<' and the JavaScript line separators", () => {
  const text = jsonForScript({ a: "</script><!--\u2028\u2029" });
  assert.equal(text, '{"a":"\\u003c/script>\\u003c!--\\u2028\\u2029"}');
  assert.deepEqual(JSON.parse(text), { a: "</script><!--\u2028\u2029" });
});
