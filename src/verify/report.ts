// What a check finds: the anomalies (each with the op that showed it, the user, what was
// expected and what was seen) and the figures of the run, plus the verdict.

export const anomalyKinds = [
  "user-visible-error",
  "cart-write-lost",
  "cart-write-extra",
  "stale-read",
  "session-lost",
  "order-lost",
  "order-duplicated",
  "slow-recovery",
] as const;
export type AnomalyKind = (typeof anomalyKinds)[number];

export type OpRef = {
  /** Line of the op record in the history. */
  readonly line: number;
  readonly kind: string;
  readonly atMs: number;
  readonly idempotencyKey?: string;
};

export type Anomaly = {
  readonly kind: AnomalyKind;
  readonly user: string;
  /** The op that showed the anomaly. */
  readonly op: OpRef;
  readonly expected: string;
  readonly seen: string;
  /** The earlier op the anomaly is about (the lost write, the checkout, the login). */
  readonly about?: OpRef;
};

export type Percentiles = {
  readonly count: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
};

export type SiteLossReport = {
  readonly faultId: string;
  readonly site: string;
  readonly startMs: number;
  readonly endMs: number;
  /** Users of the site (nearest to their region, or last served there) that ran an op after it went. */
  readonly affectedUsers: number;
  readonly servedAgainUsers: number;
  /** The longest a user waited from the loss (or their next request, if later) to a successful answer. */
  readonly maxWaitMs: number;
  readonly maxWaitUser: string | null;
  readonly p50WaitMs: number;
  readonly p99WaitMs: number;
  /** Users still waiting when the history ended. */
  readonly neverServedUsers: number;
};

export type Verdict = "pass" | "fail" | "not proven";

export type CheckReport = {
  readonly verdict: Verdict;
  /** Why the verdict is what it is, one sentence each. */
  readonly reasons: readonly string[];
  readonly history: {
    readonly planet: string;
    readonly seed: number;
    readonly commit: string;
    readonly ops: number;
    readonly faults: number;
    readonly faultsByKind: Readonly<Record<string, number>>;
    readonly users: number;
    readonly durationMs: number;
    readonly endReason: string | null;
  };
  readonly anomalies: readonly Anomaly[];
  readonly anomalyCounts: Readonly<Record<AnomalyKind, number>>;
  readonly stats: {
    readonly okOps: number;
    readonly errorOps: number;
    readonly unknownOps: number;
    readonly retriedOps: number;
    readonly cartReadsChecked: number;
    readonly orderReadsChecked: number;
    readonly sessionChecks: number;
    /** Item reads not checkable because too many in-doubt mutations made any quantity possible. */
    readonly unverifiableItemReads: number;
  };
  readonly latency: {
    readonly overall: Percentiles;
    readonly byRegion: Readonly<Record<string, Percentiles>>;
    readonly byKind: Readonly<Record<string, Percentiles>>;
  };
  readonly siteLosses: readonly SiteLossReport[];
  readonly nonNearest: {
    /** Successful ops served by a site other than their region's nearest, outside faults on that nearest site. */
    readonly count: number;
    readonly eligible: number;
    readonly share: number;
    /** Ops not counted because a fault on the nearest site (or its settle time) overlapped them. */
    readonly excludedDuringFaults: number;
  };
};

const ms = (v: number) => `${Math.round(v * 10) / 10} ms`;

function percentilesLine(label: string, p: Percentiles): string {
  return `  ${label.padEnd(16)} n=${String(p.count).padStart(7)}  p50 ${ms(p.p50Ms)}  p90 ${ms(p.p90Ms)}  p99 ${ms(p.p99Ms)}  p99.9 ${ms(p.p999Ms)}  max ${ms(p.maxMs)}`;
}

function anomalyLine(a: Anomaly): string {
  const about = a.about
    ? ` (about ${a.about.kind} at line ${a.about.line}${a.about.idempotencyKey ? ` key ${a.about.idempotencyKey}` : ""})`
    : "";
  return `  ${a.kind}: user ${a.user}, ${a.op.kind} at line ${a.op.line} (${ms(a.op.atMs)})${about}: expected ${a.expected}; saw ${a.seen}`;
}

/** The human-readable summary printed by `redshirt check`. */
export function formatReportText(report: CheckReport): string {
  const h = report.history;
  const out: string[] = [];
  out.push(`verdict: ${report.verdict.toUpperCase()}`);
  for (const reason of report.reasons) out.push(`  - ${reason}`);
  out.push(
    `history: planet ${h.planet}, seed ${h.seed}, commit ${h.commit || "?"}, ${h.ops} ops by ${h.users} users over ${ms(h.durationMs)}, ${h.faults} faults, end: ${h.endReason ?? "missing"}`,
  );
  const s = report.stats;
  out.push(
    `ops: ${s.okOps} ok, ${s.errorOps} error, ${s.unknownOps} unknown, ${s.retriedOps} retried; checked ${s.cartReadsChecked} cart reads, ${s.orderReadsChecked} order reads, ${s.sessionChecks} sessions (${s.unverifiableItemReads} item reads unverifiable)`,
  );
  const counts = Object.entries(report.anomalyCounts).filter(([, n]) => n > 0);
  out.push(`anomalies: ${counts.length === 0 ? "none" : counts.map(([k, n]) => `${k} ${n}`).join(", ")}`);
  for (const a of report.anomalies.slice(0, 50)) out.push(anomalyLine(a));
  if (report.anomalies.length > 50) out.push(`  … ${report.anomalies.length - 50} more in --json`);
  out.push("latency:");
  out.push(percentilesLine("all", report.latency.overall));
  for (const [region, p] of Object.entries(report.latency.byRegion)) out.push(percentilesLine(`region ${region}`, p));
  for (const [kind, p] of Object.entries(report.latency.byKind)) out.push(percentilesLine(kind, p));
  for (const loss of report.siteLosses) {
    out.push(
      `site loss ${loss.faultId} (${loss.site} at ${ms(loss.startMs)}): ${loss.affectedUsers} users affected, ${loss.servedAgainUsers} served again, waited max ${ms(loss.maxWaitMs)} (user ${loss.maxWaitUser ?? "-"}), p50 ${ms(loss.p50WaitMs)}, p99 ${ms(loss.p99WaitMs)}, never served ${loss.neverServedUsers}`,
    );
  }
  const n = report.nonNearest;
  out.push(
    `served by a non-nearest site: ${n.count} of ${n.eligible} (${(n.share * 100).toFixed(2)} %), ${n.excludedDuringFaults} ops during faults not counted`,
  );
  return `${out.join("\n")}\n`;
}
