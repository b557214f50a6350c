// The proof's HTML report: one self-contained file that opens from file:// with no network —
// uPlot's code and CSS, the charts' script and the data all inline, no font or CDN — built
// from the history file and the checker's report alone, so `redshirt proof --recheck DIR`
// can write it again from an evidence folder. The verdict and why come first, then charts
// over the run with every fault as a band, then the tables (faults, site losses, latency,
// anomalies).
//
// The data rides in a <script type="application/json"> tag. Strings in it come from the
// history (user names, error messages, fault details), so every "<" is written as \u003c:
// no "</script" or "<!--" can appear in the tag, whatever a hostile history holds.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { HistorySource } from "./checker.ts";
import { reportAnomaliesListedMax } from "./constants.ts";
import { verifyErrors } from "./errors.ts";
import {
  anomaliesSection,
  escapeHtml,
  faultsSection,
  latencySection,
  runSection,
  siteLossSection,
  verdictSection,
} from "./html-tables.ts";
import type { CheckReport } from "./report.ts";
import { buildTimeline, type Timeline } from "./timeline.ts";

/** What the page inlines besides the data: read once per report from node_modules and src. */
export type ReportAssets = { readonly uplotJs: string; readonly uplotCss: string; readonly chartsJs: string };

/** JSON that is safe inside a <script> element: no "<" at all, and no JS line separators. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Inline code must not close its own element early (uPlot's source holds no such text; this makes sure). */
function inlineCode(code: string, element: "script" | "style"): string {
  return code.replace(new RegExp(`</(${element})`, "gi"), "<\\/$1");
}

export function loadReportAssets(): ReportAssets {
  try {
    const uplotDir = join(dirname(createRequire(import.meta.url).resolve("uplot/package.json")), "dist");
    return {
      uplotJs: readFileSync(join(uplotDir, "uPlot.iife.min.js"), "utf8"),
      uplotCss: readFileSync(join(uplotDir, "uPlot.min.css"), "utf8"),
      chartsJs: readFileSync(new URL("./report-charts.js", import.meta.url), "utf8"),
    };
  } catch (cause) {
    throw verifyErrors.create("RS_ERR_VERIFY_REPORT_WRITE", `the report's scripts: ${(cause as Error).message}`, {
      cause,
    });
  }
}

const css = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 0 auto; padding: 16px; max-width: 1240px; }
h1 { margin: 0 0 6px; font-size: 26px; } h2 { font-size: 18px; margin: 26px 0 8px; border-bottom: 1px solid #ddd; } h3 { font-size: 15px; margin: 14px 0 6px; }
.verdict { padding: 12px 16px; border-radius: 6px; border: 1px solid; }
.verdict.pass { background: #e8f5e9; border-color: #66bb6a; } .verdict.fail { background: #fdecea; border-color: #e57373; }
.verdict.not-proven { background: #fff8e1; border-color: #ffb300; }
.reasons { margin: 4px 0 0; padding-left: 20px; }
table { border-collapse: collapse; font-size: 13px; } th, td { padding: 3px 8px; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
thead th { background: #f5f5f5; } table.kv th { width: 110px; color: #555; font-weight: 600; }
td { font-variant-numeric: tabular-nums; } .ref { color: #666; font-size: 12px; } .bad { color: #c62828; font-weight: 600; }
.none, .note { color: #666; } .chart { margin: 10px 0 18px; } .fault-kind { font-weight: 600; }
footer { margin-top: 30px; color: #888; font-size: 12px; }
`;

export type HtmlReportInput = {
  readonly report: CheckReport;
  readonly timeline: Timeline;
  readonly assets: ReportAssets;
  /** Shown in the footer (left out when absent, so the same input gives the same bytes). */
  readonly generatedAtIso?: string;
};

export function buildHtmlReport(input: HtmlReportInput): string {
  const { report, timeline, assets } = input;
  const h = report.history;
  const title = `redshirt proof: ${report.verdict} — ${h.planet}, seed ${h.seed}`;
  const data = { verdict: report.verdict, timeline };
  const generated = input.generatedAtIso ? ` on ${escapeHtml(input.generatedAtIso)}` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${inlineCode(assets.uplotCss, "style")}</style>
<style>${css}</style>
</head><body>
${verdictSection(report)}
${runSection(report, timeline)}
<section><h2>Over the run</h2>
<p class="note">Shaded bands are the faults (start to end); each op counts in the bucket where it ended.</p>
<div class="chart" id="chart-served"></div>
<div class="chart" id="chart-errors"></div>
<div class="chart" id="chart-latency"></div>
</section>
${faultsSection(timeline)}
${siteLossSection(report, timeline)}
${latencySection(report)}
${anomaliesSection(report, timeline, reportAnomaliesListedMax)}
<footer>Written by redshirt from the run's history.jsonl and its check${generated}. Charts: uPlot (MIT), inline.</footer>
<script type="application/json" id="proof-data">${jsonForScript(data)}</script>
<script>${inlineCode(assets.uplotJs, "script")}</script>
<script>${inlineCode(assets.chartsJs, "script")}</script>
</body></html>
`;
}

/** Builds the report from a history and its check, and writes it to each file. */
export async function writeHtmlReport(
  source: HistorySource,
  report: CheckReport,
  files: readonly string[],
  assets: ReportAssets = loadReportAssets(),
): Promise<void> {
  const timeline = await buildTimeline(source);
  const html = buildHtmlReport({ report, timeline, assets, generatedAtIso: new Date().toISOString() });
  for (const file of files) {
    try {
      writeFileSync(file, html);
    } catch (cause) {
      throw verifyErrors.create("RS_ERR_VERIFY_REPORT_WRITE", `${file}: ${(cause as Error).message}`, { cause });
    }
  }
}
