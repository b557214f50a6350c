// Loaded into a process with `--import`, it measures what the process allocates between two
// SIGUSR2 signals: the first starts a window, the second ends it and prints one JSON line
// `{"event":"alloc-probe", ...}` on stdout. Bytes allocated on the JS heap are exact, not
// sampled — the sum over the window's collections of (used before this collection − used
// after the previous one) plus the growth since the last one — so a benchmark can count
// allocations per request without the noise of timing. CPU time is the process's own.
// With REDSHIRT_ALLOC_PROFILE=FILE it also writes a sampling heap profile of the window
// (collected objects included, unlike --heap-prof: what a request allocates and drops)
// to FILE, for DevTools or a script; sampling costs CPU, so the figures are then rougher.

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { GCProfiler, getHeapStatistics } from "node:v8";

const profileFile = process.env.REDSHIRT_ALLOC_PROFILE;
/** Bytes between samples: small enough that a request's few hundred bytes of objects show. */
const samplingIntervalBytes = 256;
let session: Session | undefined;

type Window = { profiler: GCProfiler; usedBytes: number; cpu: NodeJS.CpuUsage; startMs: number };

let open: Window | undefined;

async function startSampling(): Promise<void> {
  session = new Session();
  session.connect();
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: samplingIntervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}

async function stopSampling(file: string): Promise<void> {
  const s = session!;
  session = undefined;
  const { profile } = await s.post("HeapProfiler.stopSampling");
  s.disconnect();
  writeFileSync(file, JSON.stringify(profile));
}

process.on("SIGUSR2", () => {
  if (open === undefined) {
    if (profileFile) void startSampling();
    const profiler = new GCProfiler();
    profiler.start();
    open = { profiler, usedBytes: getHeapStatistics().used_heap_size, cpu: process.cpuUsage(), startMs: Date.now() };
    return;
  }
  const w = open;
  open = undefined;
  const cpu = process.cpuUsage(w.cpu);
  const usedEnd = getHeapStatistics().used_heap_size;
  const stats = w.profiler.stop()?.statistics ?? [];
  let allocatedBytes = 0;
  let usedAfter = w.usedBytes;
  const gcs: Record<string, number> = {};
  let pauseUs = 0;
  for (const s of stats) {
    allocatedBytes += s.beforeGC.heapStatistics.usedHeapSize - usedAfter;
    usedAfter = s.afterGC.heapStatistics.usedHeapSize;
    gcs[s.gcType] = (gcs[s.gcType] ?? 0) + 1;
    pauseUs += s.cost;
  }
  allocatedBytes += usedEnd - usedAfter;
  const line = {
    event: "alloc-probe",
    allocatedBytes,
    gcs,
    gcPauseUs: Math.round(pauseUs),
    cpuUs: cpu.user + cpu.system,
    wallMs: Date.now() - w.startMs,
  };
  if (profileFile) void stopSampling(profileFile).then(() => process.stdout.write(`${JSON.stringify(line)}\n`));
  else process.stdout.write(`${JSON.stringify(line)}\n`);
});
