// A closed-loop load generator shared by the benchmarks: `connections` workers, each with
// one request in flight, for a fixed time; latency into an HDR histogram; a progress line
// every second so nobody stares at a silent terminal.
import * as hdr from "hdr-histogram-js";

export type LoadResult = {
  readonly name: string;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
};

export async function runLoad(
  name: string,
  options: { connections: number; durationS: number; warmupS?: number },
  makeWorker: (index: number) => Promise<(i: number) => Promise<void>>,
): Promise<LoadResult> {
  const workers = await Promise.all(Array.from({ length: options.connections }, (_, i) => makeWorker(i)));
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let ops = 0;
  let errors = 0;
  let recording = false;
  let running = true;
  let firstError: unknown;
  const warmupS = options.warmupS ?? 1;
  const loops = workers.map(async (work, w) => {
    let i = w * 1_000_000_007;
    while (running) {
      const started = performance.now();
      try {
        await work(i++);
        if (recording) {
          ops++;
          histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
        }
      } catch (err) {
        firstError ??= err;
        if (recording) errors++;
      }
    }
  });
  await sleep(warmupS * 1000);
  recording = true;
  const started = performance.now();
  let lastOps = 0;
  for (let s = 1; s <= options.durationS; s++) {
    await sleep(1000);
    process.stdout.write(`  ${name}: ${s}/${options.durationS} s, ${ops - lastOps} ops/s\n`);
    lastOps = ops;
  }
  recording = false;
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await Promise.all(loops);
  if (errors > 0) process.stdout.write(`  ${name}: ${errors} errors, first: ${String(firstError)}\n`);
  const result = {
    name,
    ops,
    errors,
    seconds,
    opsPerS: ops / seconds,
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
  };
  histogram.destroy();
  return result;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function formatRow(r: LoadResult): string {
  return `${r.name.padEnd(28)} ${Math.round(r.opsPerS).toString().padStart(8)} ops/s   p50 ${r.p50Ms.toFixed(2).padStart(6)} ms   p99 ${r.p99Ms.toFixed(2).padStart(7)} ms${r.errors ? `   ${r.errors} errors` : ""}`;
}
