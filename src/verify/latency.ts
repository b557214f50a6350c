// Latency of every operation (first request to final answer, retries included: what the
// user waited), per region and per op kind, in HDR histograms so the tail is exact to 3
// significant digits whatever the count.
import * as hdr from "hdr-histogram-js";
import { latencySignificantDigits, latencyUsMax } from "./constants.ts";
import type { Percentiles } from "./report.ts";

type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: latencyUsMax,
    numberOfSignificantValueDigits: latencySignificantDigits,
  });
}

export function percentilesOf(h: Histogram): Percentiles {
  const at = (p: number) => (h.totalCount === 0 ? 0 : h.getValueAtPercentile(p) / 1000);
  return {
    count: h.totalCount,
    p50Ms: at(50),
    p90Ms: at(90),
    p99Ms: at(99),
    p999Ms: at(99.9),
    maxMs: h.totalCount === 0 ? 0 : h.maxValue / 1000,
  };
}

/** Records a duration in ms into a histogram (µs resolution, clamped to its range). */
export function recordMs(h: Histogram, durationMs: number): void {
  h.recordValue(Math.min(latencyUsMax, Math.max(1, Math.round(durationMs * 1000))));
}

export class LatencyBook {
  readonly #overall = newHistogram();
  readonly #byRegion = new Map<string, Histogram>();
  readonly #byKind = new Map<string, Histogram>();

  record(region: string, kind: string, durationMs: number): void {
    recordMs(this.#overall, durationMs);
    for (const [map, key] of [
      [this.#byRegion, region],
      [this.#byKind, kind],
    ] as const) {
      let h = map.get(key);
      if (!h) map.set(key, (h = newHistogram()));
      recordMs(h, durationMs);
    }
  }

  report(): { overall: Percentiles; byRegion: Record<string, Percentiles>; byKind: Record<string, Percentiles> } {
    const sorted = (m: Map<string, Histogram>) =>
      Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([k, h]) => [k, percentilesOf(h)]));
    return { overall: percentilesOf(this.#overall), byRegion: sorted(this.#byRegion), byKind: sorted(this.#byKind) };
  }
}
