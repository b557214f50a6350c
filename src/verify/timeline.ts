// The run over time, for the HTML report's charts: the history cut into buckets of a second
// or so (wider for long runs, so a chart never has more than timelineBucketsMax points) and,
// per bucket, the requests each site served, the errors users saw, the retries clients sent
// and each region's latency p50/p99; plus every fault as a band (kind, target, start..end).
// Two streaming passes like the checker: the first finds the run's span and its faults, the
// second fills the buckets. Each op counts in the bucket where it ended (when the user got
// the answer); its latency is what the user waited, retries included.
import type { HistorySource } from "./checker.ts";
import {
  faultsMax,
  latencyBinRatio,
  latencyBinsMinMs,
  timelineBucketMsMin,
  timelineBucketsMax,
  timelineNamesMax,
} from "./constants.ts";
import type { FaultRecord } from "./history.ts";

export type TimelineFault = {
  readonly id: string;
  readonly kind: FaultRecord["kind"];
  /** "site", "site/tier", "site/instance", "site↔peer" */
  readonly target: string;
  /** Seconds since the run's origin. */
  readonly startS: number;
  readonly endS: number;
  readonly detail?: string;
};

export type Timeline = {
  /** The run's origin on the history's clock: its first op's start (or first fault's). */
  readonly originMs: number;
  readonly bucketS: number;
  /** The last bucket ends with the run, so it may be shorter (its rates are over what it lasted). */
  readonly lastBucketS: number;
  /** Start of each bucket, in seconds since the origin. */
  readonly t: readonly number[];
  readonly sites: readonly string[];
  /** Successful ops answered by each site, per second, per bucket. */
  readonly servedPerS: Readonly<Record<string, readonly number[]>>;
  /** Ops whose final outcome was an error or unknown (what users saw), per second. */
  readonly errorsPerS: readonly number[];
  /** Requests sent again by clients (attempts beyond the first), per second. */
  readonly retriesPerS: readonly number[];
  readonly regions: readonly string[];
  /** Latency of the ops that ended in the bucket; null where a region had none. */
  readonly p50Ms: Readonly<Record<string, readonly (number | null)[]>>;
  readonly p99Ms: Readonly<Record<string, readonly (number | null)[]>>;
  readonly faults: readonly TimelineFault[];
};

/** Latencies of one bucket as counts in logarithmic bins: each within latencyBinRatio of the truth. */
class LogBins {
  readonly #counts = new Map<number, number>();
  #total = 0;

  add(ms: number): void {
    const bin = ms <= latencyBinsMinMs ? 0 : Math.ceil(Math.log(ms / latencyBinsMinMs) / Math.log(latencyBinRatio));
    this.#counts.set(bin, (this.#counts.get(bin) ?? 0) + 1);
    this.#total++;
  }

  /** The upper edge of the bin holding the q-th quantile (rank ceil(q·n), as HDR does). */
  quantile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (const [bin, n] of [...this.#counts].sort(([a], [b]) => a - b)) {
      seen += n;
      if (seen >= rank) return latencyBinsMinMs * latencyBinRatio ** bin;
    }
    return Number.NaN; // unreachable: the ranks add up to the total
  }
}

function targetText(target: FaultRecord["target"]): string {
  if (target.peer) return `${target.site}↔${target.peer}`;
  if (target.instance) return `${target.site}/${target.instance}`;
  if (target.tier) return `${target.site}/${target.tier}`;
  return target.site;
}

/** Adds a name to a bounded list (a hostile history cannot grow the charts without end). */
function addName(names: string[], name: string): boolean {
  if (names.includes(name)) return true;
  if (names.length >= timelineNamesMax) return false;
  names.push(name);
  return true;
}

/** Times and latencies to 1/1000 (of a second, of a millisecond): finer is noise in a chart. */
const round3 = (v: number) => Math.round(v * 1000) / 1000;

export async function buildTimeline(source: HistorySource): Promise<Timeline> {
  // Pass 1: the span, the names, the faults and their ends.
  let firstMs = Number.POSITIVE_INFINITY;
  let lastMs = 0;
  const sites: string[] = [];
  const regions: string[] = [];
  const faults = new Map<string, FaultRecord>();
  const faultEnds = new Map<string, number>();
  for await (const { record } of source.records()) {
    if (record.type === "header") {
      for (const s of record.sites) addName(sites, s.name);
      for (const r of record.regions) addName(regions, r.name);
    } else if (record.type === "op") {
      firstMs = Math.min(firstMs, record.startMs);
      lastMs = Math.max(lastMs, record.endMs);
    } else if (record.type === "fault") {
      if (faults.size < faultsMax) faults.set(record.id, record);
      firstMs = Math.min(firstMs, record.startMs);
    } else if (record.type === "fault-end") faultEnds.set(record.id, record.endMs);
    else lastMs = Math.max(lastMs, record.endMs);
  }
  const originMs = Number.isFinite(firstMs) ? firstMs : 0;
  const spanMs = Math.max(0, lastMs - originMs);
  const bucketMs = Math.max(timelineBucketMsMin, Math.ceil(spanMs / timelineBucketsMax / 1000) * 1000);
  const buckets = Math.max(1, Math.ceil(spanMs / bucketMs));
  // The run ended inside the last bucket: its rates are over the part it lasted.
  const lastBucketMs = Math.max(1, spanMs - (buckets - 1) * bucketMs);
  const zeros = () => new Array<number>(buckets).fill(0);
  const served: Record<string, number[]> = Object.fromEntries(sites.map((s) => [s, zeros()]));
  const errors = zeros();
  const retries = zeros();
  const bins: Record<string, (LogBins | undefined)[]> = Object.fromEntries(
    regions.map((r) => [r, new Array<LogBins | undefined>(buckets)]),
  );

  // Pass 2: every op into the bucket where it ended.
  for await (const { record: op } of source.records()) {
    if (op.type !== "op") continue;
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((op.endMs - originMs) / bucketMs)));
    retries[i] += op.attempts - 1;
    if (op.outcome.result !== "ok") errors[i]++;
    else if (op.served && addName(sites, op.served.site)) (served[op.served.site] ??= zeros())[i]++;
    if (!addName(regions, op.region)) continue;
    const row = (bins[op.region] ??= new Array<LogBins | undefined>(buckets));
    (row[i] ??= new LogBins()).add(op.endMs - op.startMs);
  }

  const bucketS = bucketMs / 1000;
  const lastBucketS = lastBucketMs / 1000;
  const perS = (counts: number[]) => counts.map((n, i) => n / (i === buckets - 1 ? lastBucketS : bucketS));
  const quantiles = (q: number) =>
    Object.fromEntries(regions.map((r) => [r, Array.from(bins[r], (b) => (b ? round3(b.quantile(q)) : null))]));
  return {
    originMs,
    bucketS,
    lastBucketS,
    t: Array.from({ length: buckets }, (_, i) => i * bucketS),
    sites,
    servedPerS: Object.fromEntries(sites.map((s) => [s, perS(served[s])])),
    errorsPerS: perS(errors),
    retriesPerS: perS(retries),
    regions,
    p50Ms: quantiles(0.5),
    p99Ms: quantiles(0.99),
    faults: [...faults.values()]
      .sort((a, b) => a.startMs - b.startMs)
      .map((f) => {
        const endMs = faultEnds.get(f.id) ?? f.endMs ?? f.startMs + f.ttlMs;
        return {
          id: f.id,
          kind: f.kind,
          target: targetText(f.target),
          startS: round3((f.startMs - originMs) / 1000),
          endS: round3((endMs - originMs) / 1000),
          ...(f.detail === undefined ? {} : { detail: f.detail }),
        };
      }),
  };
}
