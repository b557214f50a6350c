// The checker: judges a run from its history alone. Two passes over the records: the first
// collects the header, the faults and the end record (a few per run), the second replays
// every user's operations against their model (bounded state per user). Any anomaly fails
// the run; a run that saw too little, was cut short or hit a limit is "not proven", never
// "pass".
import {
  anomaliesListedMax,
  checkTimeMsMaxDefault,
  faultSettleMsDefault,
  faultsMax,
  faultsMinDefault,
  heapBytesMaxDefault,
  limitCheckEveryOps,
  opsMinDefault,
  progressIntervalMs,
  recoveryMsMaxDefault,
  usersMax,
} from "./constants.ts";
import { verifyErrors } from "./errors.ts";
import type { EndRecord, HistoryHeader, OpRecord } from "./history.ts";
import { LatencyBook } from "./latency.ts";
import type { NumberedRecord } from "./reader.ts";
import { type Anomaly, type AnomalyKind, anomalyKinds, type CheckReport } from "./report.ts";
import { type Fault, newUserRouting, RoutingBook, type UserRouting } from "./routing.ts";
import { LimitReached, type UserCounters, UserModel } from "./user-model.ts";

export type CheckOptions = {
  /** Fewer ops than this: "not proven". */
  readonly opsMin?: number;
  /** Fewer faults than this: "not proven". */
  readonly faultsMin?: number;
  /** A site loss whose users waited longer fails. */
  readonly recoveryMsMax?: number;
  /** Time after a fault on a site during which serving its users elsewhere is expected. */
  readonly faultSettleMs?: number;
  /** Whether a stale read of the user's own write fails the run (default true). */
  readonly staleReadsFail?: boolean;
  readonly checkTimeMsMax?: number;
  readonly heapBytesMax?: number;
  /** Injected for tests; performance.now by default. */
  readonly nowMs?: () => number;
  readonly heapUsedBytes?: () => number;
  /** Called at most once a second per pass. */
  readonly onProgress?: (pass: 1 | 2, line: number) => void;
};

/** Records that can be read more than once (the checker reads them twice). */
export type HistorySource = { readonly name: string; records(): AsyncIterable<NumberedRecord> };

export function arraySource(records: readonly NumberedRecord["record"][], name = "history"): HistorySource {
  return {
    name,
    async *records() {
      let line = 0;
      for (const record of records) yield { line: ++line, record };
    },
  };
}

type User = { model: UserModel; routing: UserRouting; region: string; lastEndMs: number };

class StopCheck extends Error {}

export async function checkHistory(source: HistorySource, options: CheckOptions = {}): Promise<CheckReport> {
  const nowMs = options.nowMs ?? (() => performance.now());
  const heapUsed = options.heapUsedBytes ?? (() => process.memoryUsage().heapUsed);
  const startedMs = nowMs();
  const invalid = (line: number, text: string) =>
    verifyErrors.create("RS_ERR_VERIFY_HISTORY_INVALID", `${source.name}:${line}: ${text}`);
  let lastProgressMs = startedMs;
  const progress = (pass: 1 | 2, line: number) => {
    if (!options.onProgress) return;
    const now = nowMs();
    if (now - lastProgressMs < progressIntervalMs) return;
    lastProgressMs = now;
    options.onProgress(pass, line);
  };

  // Pass 1: the few records everything else depends on.
  let header: HistoryHeader | undefined;
  let end: EndRecord | undefined;
  const faults = new Map<string, Fault>();
  const faultEnds = new Map<string, number>();
  let opsInFile = 0;
  let firstMs = Number.POSITIVE_INFINITY;
  let lastMs = 0;
  for await (const { line, record } of source.records()) {
    progress(1, line);
    if (end !== undefined) throw invalid(line, "a record after the end record");
    if (record.type === "header") header = record;
    else if (header === undefined) throw invalid(line, "the first record must be the header");
    else if (record.type === "op") {
      opsInFile++;
      firstMs = Math.min(firstMs, record.startMs);
      lastMs = Math.max(lastMs, record.endMs);
    } else if (record.type === "fault") {
      if (faults.has(record.id)) throw invalid(line, `fault id ${record.id} used twice`);
      if (faults.size >= faultsMax) throw invalid(line, `more than ${faultsMax} faults`);
      faults.set(record.id, { ...record, effectiveEndMs: record.endMs ?? record.startMs + record.ttlMs });
    } else if (record.type === "fault-end") {
      if (faultEnds.size >= faultsMax) throw invalid(line, `more than ${faultsMax} fault-end records`);
      faultEnds.set(record.id, record.endMs);
    } else end = record;
  }
  if (header === undefined) throw invalid(1, "the history is empty; it starts with its header");
  for (const [id, endMs] of faultEnds) {
    const fault = faults.get(id);
    if (!fault)
      throw verifyErrors.create("RS_ERR_VERIFY_HISTORY_INVALID", `${source.name}: fault-end names unknown fault ${id}`);
    faults.set(id, { ...fault, effectiveEndMs: endMs });
  }
  const sites = new Set(header.sites.map((s) => s.name));
  for (const r of header.regions) {
    if (!sites.has(r.nearestSite)) throw invalid(1, `regions: ${r.name}'s nearestSite ${r.nearestSite} is not a site`);
  }
  const regions = new Set(header.regions.map((r) => r.name));

  // Pass 2: every user's operations against their model.
  const opsMin = options.opsMin ?? opsMinDefault;
  const faultsMin = options.faultsMin ?? faultsMinDefault;
  const recoveryMsMax = options.recoveryMsMax ?? recoveryMsMaxDefault;
  const checkTimeMsMax = options.checkTimeMsMax ?? checkTimeMsMaxDefault;
  const heapBytesMax = options.heapBytesMax ?? heapBytesMaxDefault;
  const routing = new RoutingBook(header, [...faults.values()], {
    recoveryMsMax,
    settleMs: options.faultSettleMs ?? faultSettleMsDefault,
  });
  const latency = new LatencyBook();
  const anomalies: Anomaly[] = [];
  const anomalyCounts = Object.fromEntries(anomalyKinds.map((k) => [k, 0])) as Record<AnomalyKind, number>;
  const emit = (a: Anomaly) => {
    anomalyCounts[a.kind]++;
    if (anomalies.length < anomaliesListedMax) anomalies.push(a);
  };
  const counters: UserCounters = {
    cartReadsChecked: 0,
    orderReadsChecked: 0,
    sessionChecks: 0,
    unverifiableItemReads: 0,
  };
  const stats = { okOps: 0, errorOps: 0, unknownOps: 0, retriedOps: 0 };
  const users = new Map<string, User>();
  const sessionTtlMs = header.sessionTtlS === undefined ? undefined : header.sessionTtlS * 1000;
  let stoppedBy: string | undefined;
  let opsSeen = 0;

  const observe = (op: OpRecord, line: number) => {
    if (!regions.has(op.region)) throw invalid(line, `region: ${op.region} is not a region of the header`);
    if (op.served && !sites.has(op.served.site))
      throw invalid(line, `served.site: ${op.served.site} is not a site of the header`);
    let user = users.get(op.user);
    if (!user) {
      if (users.size >= usersMax) throw new LimitReached(`more than ${usersMax} users`);
      user = {
        model: new UserModel(op.user, emit, counters, sessionTtlMs),
        routing: newUserRouting(),
        region: op.region,
        lastEndMs: 0,
      };
      users.set(op.user, user);
    }
    if (op.region !== user.region)
      throw invalid(line, `region: user ${op.user} moved from ${user.region} to ${op.region}`);
    if (op.startMs < user.lastEndMs) {
      throw invalid(
        line,
        `startMs: user ${op.user} starts an op before their previous one ended (a user runs one op at a time, in file order)`,
      );
    }
    user.lastEndMs = op.endMs;
    latency.record(op.region, op.kind, op.endMs - op.startMs);
    if (op.attempts > 1) stats.retriedOps++;
    if (op.outcome.result === "ok") stats.okOps++;
    else {
      if (op.outcome.result === "error") stats.errorOps++;
      else stats.unknownOps++;
      emit({
        kind: "user-visible-error",
        user: op.user,
        op: {
          line,
          kind: op.kind,
          atMs: op.startMs,
          ...(op.idempotencyKey ? { idempotencyKey: op.idempotencyKey } : {}),
        },
        expected: "a successful answer (after the client's retries)",
        seen:
          op.outcome.result === "error"
            ? `error ${op.outcome.status}: ${op.outcome.message} after ${op.attempts} attempts`
            : `outcome unknown after ${op.attempts} attempts: ${op.outcome.message}`,
      });
    }
    user.model.observe(op, line);
    routing.observe(op, line, user.routing);
  };

  try {
    for await (const { line, record } of source.records()) {
      progress(2, line);
      if (record.type !== "op") continue;
      observe(record, line);
      if (++opsSeen % limitCheckEveryOps === 0) {
        if (nowMs() - startedMs > checkTimeMsMax)
          throw new StopCheck(`the check ran past its time limit of ${checkTimeMsMax} ms`);
        if (heapUsed() > heapBytesMax) throw new StopCheck(`the check used more than ${heapBytesMax} bytes of heap`);
      }
    }
    for (const [name, user] of users) {
      user.model.finish();
      routing.finishUser(name, user.routing, end?.endMs ?? lastMs);
    }
    for (const a of routing.anomalies()) emit(a);
  } catch (err) {
    if (!(err instanceof LimitReached || err instanceof StopCheck)) throw err;
    stoppedBy = err.message;
  }

  const reasons: string[] = [];
  const anomalyTotal = Object.values(anomalyCounts).reduce((a, b) => a + b, 0);
  if (anomalyTotal > 0) {
    reasons.push(
      `${anomalyTotal} anomalies: ${Object.entries(anomalyCounts)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ")}`,
    );
  }
  const unproven: string[] = [];
  if (stoppedBy) unproven.push(`the check stopped early: ${stoppedBy}`);
  if (opsInFile < opsMin) unproven.push(`only ${opsInFile} ops (at least ${opsMin} needed)`);
  if (faults.size < faultsMin) unproven.push(`only ${faults.size} faults (at least ${faultsMin} needed)`);
  for (const k of routing.killsNotTaken()) {
    unproven.push(
      `fault ${k.faultId} (${k.kind} of ${k.target}) did not take: its target served ${k.servedDuring} ops while it should have been down`,
    );
  }
  if (end === undefined) unproven.push("the history has no end record: the run was cut short");
  else {
    if (end.reason !== "complete") unproven.push(`the run ended early (${end.reason})`);
    if (end.ops !== opsInFile) unproven.push(`the writer wrote ${end.ops} ops but the file holds ${opsInFile}`);
  }
  // Stale reads may be reported without failing the run (options.staleReadsFail false): a
  // store that replicates across sites asynchronously can show a failed-over user an older
  // cart for a moment without losing anything; lost writes always fail.
  const failing = anomalyTotal - (options.staleReadsFail === false ? anomalyCounts["stale-read"] : 0);
  if (failing === 0 && anomalyTotal > 0) reasons.push("stale reads are reported, not failing (staleReadsFail false)");
  const verdict = failing > 0 ? "fail" : unproven.length > 0 ? "not proven" : "pass";
  reasons.push(...unproven);
  if (verdict === "pass" && anomalyTotal === 0) reasons.push("no anomaly in a complete run with enough ops and faults");

  const faultsByKind: Record<string, number> = {};
  for (const f of faults.values()) faultsByKind[f.kind] = (faultsByKind[f.kind] ?? 0) + 1;
  return {
    verdict,
    reasons,
    history: {
      planet: header.planet,
      seed: header.seed,
      commit: header.commit,
      ops: opsInFile,
      faults: faults.size,
      faultsByKind,
      users: users.size,
      durationMs: opsInFile === 0 ? 0 : lastMs - firstMs,
      endReason: end?.reason ?? null,
    },
    anomalies,
    anomalyCounts,
    stats: { ...stats, ...counters },
    latency: latency.report(),
    siteLosses: routing.siteLosses(),
    nonNearest: {
      count: routing.nonNearest,
      eligible: routing.eligible,
      share: routing.eligible === 0 ? 0 : routing.nonNearest / routing.eligible,
      excludedDuringFaults: routing.excluded,
    },
  };
}
