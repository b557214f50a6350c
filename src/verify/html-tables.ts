// The HTML report's text parts, rendered on the server side so they read without
// JavaScript: the verdict and why, the run's figures, the faults, each site loss's waits,
// latency percentiles and the anomalies with the ops that showed them. Every string from the
// history (user names, error messages, fault details) goes through escapeHtml.
import { anomaliesListedMax } from "./constants.ts";
import type { Anomaly, CheckReport, OpRef, Percentiles } from "./report.ts";
import type { Timeline } from "./timeline.ts";

export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );
}

const e = (v: string | number) => escapeHtml(String(v));
const ms = (v: number) => `${(Math.round(v * 10) / 10).toLocaleString("en")} ms`;
const s = (v: number) => `${(Math.round(v * 10) / 10).toFixed(1)} s`;
const n = (v: number) => v.toLocaleString("en");

function table(head: readonly string[], rows: readonly (readonly string[])[], empty: string): string {
  if (rows.length === 0) return `<p class="none">${e(empty)}</p>`;
  const th = head.map((h) => `<th>${e(h)}</th>`).join("");
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

export function verdictSection(report: CheckReport): string {
  const cls = report.verdict.replace(" ", "-");
  const reasons = report.reasons.map((r) => `<li>${e(r)}</li>`).join("");
  return `<section class="verdict ${cls}"><h1>Verdict: <span id="verdict">${e(report.verdict.toUpperCase())}</span></h1>
<ul class="reasons">${reasons || "<li>no reason given</li>"}</ul></section>`;
}

export function runSection(report: CheckReport, timeline: Timeline): string {
  const h = report.history;
  const st = report.stats;
  const kinds = Object.entries(h.faultsByKind)
    .map(([k, c]) => `${k} ${c}`)
    .join(", ");
  const nn = report.nonNearest;
  const rows: [string, string][] = [
    ["planet", e(h.planet)],
    ["seed", e(h.seed)],
    ["commit", e(h.commit || "?")],
    ["duration", `${s(h.durationMs / 1000)} (charts in buckets of ${e(timeline.bucketS)} s)`],
    ["end", e(h.endReason ?? "missing: the run was cut short")],
    [
      "ops",
      `${n(h.ops)} by ${n(h.users)} users: ${n(st.okOps)} ok, ${n(st.errorOps)} error, ${n(st.unknownOps)} unknown, ${n(st.retriedOps)} retried`,
    ],
    [
      "checked",
      `${n(st.cartReadsChecked)} cart reads, ${n(st.orderReadsChecked)} order reads, ${n(st.sessionChecks)} sessions (${n(st.unverifiableItemReads)} item reads unverifiable)`,
    ],
    ["faults", `${n(h.faults)}${kinds ? `: ${e(kinds)}` : ""}`],
    [
      "non-nearest",
      `${n(nn.count)} of ${n(nn.eligible)} ops (${(nn.share * 100).toFixed(2)} %) served by a site other than their region's nearest; ${n(nn.excludedDuringFaults)} during faults not counted`,
    ],
  ];
  return `<section><h2>The run</h2><table class="kv"><tbody>${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</tbody></table></section>`;
}

export function faultsSection(timeline: Timeline): string {
  const rows = timeline.faults.map((f) => [
    e(f.id),
    `<span class="fault-kind k-${e(f.kind)}">${e(f.kind)}</span>`,
    e(f.target),
    s(f.startS),
    s(f.endS),
    s(f.endS - f.startS),
    e(f.detail ?? ""),
  ]);
  return `<section><h2>Faults</h2>${table(["id", "kind", "target", "start", "end", "lasted", "detail"], rows, "no faults in this history")}</section>`;
}

export function siteLossSection(report: CheckReport, timeline: Timeline): string {
  const rows = report.siteLosses.map((l) => [
    e(l.faultId),
    e(l.site),
    `${s((l.startMs - timeline.originMs) / 1000)} – ${s((l.endMs - timeline.originMs) / 1000)}`,
    n(l.affectedUsers),
    n(l.servedAgainUsers),
    ms(l.p50WaitMs),
    ms(l.p99WaitMs),
    `${ms(l.maxWaitMs)}${l.maxWaitUser ? ` (${e(l.maxWaitUser)})` : ""}`,
    `<span class="${l.neverServedUsers > 0 ? "bad" : ""}">${n(l.neverServedUsers)}</span>`,
  ]);
  return `<section><h2>Site losses: how long their users waited</h2>
<p class="note">From the loss (or the user's first op after it) to the end of their next successful op.</p>
${table(["fault", "site", "lost", "users affected", "served again", "wait p50", "wait p99", "wait max (user)", "never served"], rows, "no site was lost in this run")}</section>`;
}

function percentileRow(label: string, p: Percentiles): string[] {
  return [e(label), n(p.count), ms(p.p50Ms), ms(p.p90Ms), ms(p.p99Ms), ms(p.p999Ms), ms(p.maxMs)];
}

export function latencySection(report: CheckReport): string {
  const head = ["", "ops", "p50", "p90", "p99", "p99.9", "max"];
  const regions = [
    percentileRow("all", report.latency.overall),
    ...Object.entries(report.latency.byRegion).map(([r, p]) => percentileRow(r, p)),
  ];
  const kinds = Object.entries(report.latency.byKind).map(([k, p]) => percentileRow(k, p));
  return `<section><h2>Latency (what users waited, retries included)</h2>
<h3>Per region</h3>${table(head, regions, "no ops")}
<h3>Per operation</h3>${table(head, kinds, "no ops")}</section>`;
}

function opRef(op: OpRef, originMs: number): string {
  const key = op.idempotencyKey ? ` key ${e(op.idempotencyKey)}` : "";
  return `${e(op.kind)} <span class="ref">line ${n(op.line)}, ${s((op.atMs - originMs) / 1000)}${key}</span>`;
}

export function anomaliesSection(report: CheckReport, timeline: Timeline, listedMax: number): string {
  const counts = Object.entries(report.anomalyCounts).filter(([, c]) => c > 0);
  const total = counts.reduce((a, [, c]) => a + c, 0);
  const summary = total === 0 ? "none" : counts.map(([k, c]) => `<span class="bad">${e(k)} ${n(c)}</span>`).join(", ");
  const listed = report.anomalies.slice(0, listedMax);
  const rows = listed.map((a: Anomaly) => [
    e(a.kind),
    e(a.user),
    opRef(a.op, timeline.originMs),
    a.about ? opRef(a.about, timeline.originMs) : "",
    e(a.expected),
    e(a.seen),
  ]);
  const more =
    total > listed.length
      ? `<p class="note">The first ${n(listed.length)} of ${n(total)} are listed; verdict.json has up to ${n(anomaliesListedMax)}.</p>`
      : "";
  return `<section><h2>Anomalies: ${summary}</h2>
${table(["kind", "user", "op (history line, time)", "about", "expected", "seen"], rows, "no anomaly: nothing acknowledged was lost, duplicated or shown stale, and no user saw an error")}${more}</section>`;
}
