// The measuring parts of `npm run bench:geo` (bench/geo.ts): closed write loops, open-loop
// probes, percentiles and the longest gap between successes after a site is killed.

import { loadavg } from "node:os";
import { type Planet, siteRttMs } from "../../src/topology/index.ts";
import type { WanAdminClient } from "../../src/wan/index.ts";

/** How a round writes and reports: the writes in flight per site, and the progress printer. */
export type MeasureContext = { readonly inflight: number; readonly log: (line: string) => void };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export type SiteResult = { site: string; ok: number; errors: number; p50Ms: number; p99Ms: number; floorMs: number };

/** `inflight` loops writing until `until()` says stop; calls back with each outcome. */
export async function writeLoop(
  inflight: number,
  write: () => Promise<void>,
  until: () => boolean,
  onDone: (ok: boolean, ms: number, err?: unknown) => void,
): Promise<void> {
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (!until()) {
        const t0 = performance.now();
        try {
          await write();
          onDone(true, performance.now() - t0);
        } catch (err) {
          onDone(false, performance.now() - t0, err);
        }
      }
    }),
  );
}

/** Open loop: starts a write every `everyMs` whatever the others do (at most `outstandingMax` at once). */
export async function probeLoop(
  options: { everyMs: number; outstandingMax: number },
  write: () => Promise<void>,
  until: () => boolean,
  onDone: (ok: boolean, at: number) => void,
): Promise<void> {
  const outstanding = new Set<Promise<void>>();
  while (!until()) {
    if (outstanding.size < options.outstandingMax) {
      const p: Promise<void> = write()
        .then(
          () => onDone(true, performance.now()),
          () => onDone(false, performance.now()),
        )
        .finally(() => outstanding.delete(p));
      outstanding.add(p);
    }
    await sleep(options.everyMs);
  }
  await Promise.all(outstanding);
}

export type Gap = { gapMs: number; after: number; open: boolean };
export type Stall = Gap & { site: string; failed: number; probe: Gap };

/** The longest gap between successful writes in a site from `killedAt` to `endAt` (ms since the kill). */
export function longestGap(okTimes: readonly number[], killedAt: number, endAt: number): Gap {
  const times = okTimes.filter((t) => t <= endAt);
  let last = Math.max(...times.filter((t) => t <= killedAt), killedAt - 1e9);
  let gap = 0;
  for (const t of times.filter((x) => x > killedAt)) {
    gap = Math.max(gap, t - Math.max(last, killedAt));
    last = t;
  }
  const tail = endAt - Math.max(last, killedAt);
  // A gap still open at the end of the window (no success in its last second) is only a lower bound.
  const open = tail >= gap && tail > 1_000;
  gap = Math.max(gap, tail);
  return { gapMs: gap, after: times.filter((t) => t > killedAt).length, open };
}

export const gapText = (g: { gapMs: number; open: boolean }) => `${g.open ? "≥ " : ""}${g.gapMs.toFixed(0)} ms`;

export async function wanBytes(admin: WanAdminClient, sites: readonly string[]): Promise<number> {
  const listings = await Promise.all(sites.map((s) => admin.links(s)));
  let total = 0;
  for (const l of listings) for (const link of l.links) total += link.bytes.forward + link.bytes.back;
  return total;
}

export type Writer = (tag: string) => Promise<void>;

/** What one system's writes gave over all rounds: per site latencies and errors, WAN bytes and time. */
export type Tally = {
  readonly label: string;
  readonly latencies: Map<string, number[]>;
  readonly errors: Map<string, number>;
  bytes: number;
};

export function newTally(label: string, sites: readonly string[]): Tally {
  return { label, latencies: new Map(sites.map((s) => [s, []])), errors: new Map(sites.map((s) => [s, 0])), bytes: 0 };
}

/** One round: writes from every site at once through `writers`, for `seconds` or `writesCap` per site. */
export async function measureRound(
  ctx: MeasureContext,
  tally: Tally,
  planet: Planet,
  writers: ReadonlyMap<string, Writer>,
  admin: WanAdminClient,
  idleBytesPerS: number,
  round: { seconds: number; writesCap: number; name: string },
): Promise<void> {
  const sites = planet.sites.map((s) => s.name);
  const label = tally.label;
  ctx.log(
    `${label}, ${round.name}: writes from every site at once, ${ctx.inflight} in flight per site, ${round.seconds} s or ${round.writesCap} writes (load average ${loadavg()[0].toFixed(1)})`,
  );
  const bytes0 = await wanBytes(admin, sites);
  const t0 = performance.now();
  await Promise.all(
    sites.map(async (site) => {
      const latencies = tally.latencies.get(site)!;
      let ok = 0;
      let errors = 0;
      let firstError: unknown;
      let started = 0;
      const deadline = t0 + round.seconds * 1000;
      let lastPrint = performance.now();
      await writeLoop(
        ctx.inflight,
        () => writers.get(site)!("run"),
        () => started++ >= round.writesCap || performance.now() > deadline,
        (success, ms, err) => {
          if (success) {
            latencies.push(ms);
            ok++;
          } else {
            errors++;
            firstError ??= err;
          }
          if (performance.now() - lastPrint > 2000) {
            lastPrint = performance.now();
            ctx.log(`  ${label} ${site}: ${ok} writes, ${errors} errors`);
          }
        },
      );
      tally.errors.set(site, tally.errors.get(site)! + errors);
      if (firstError) ctx.log(`  ${label} ${site}: first error: ${(firstError as Error).message}`);
    }),
  );
  const runS = (performance.now() - t0) / 1000;
  tally.bytes += (await wanBytes(admin, sites)) - bytes0 - idleBytesPerS * runS;
}

/** p50/p99 per site beside the floor, and WAN bytes per write, over every round. */
export function summarize(
  ctx: MeasureContext,
  tally: Tally,
  planet: Planet,
): { results: SiteResult[]; bytesPerWrite: number } {
  const sites = planet.sites.map((s) => s.name);
  const results = sites.map((site) => {
    const latencies = [...tally.latencies.get(site)!].sort((a, b) => a - b);
    const floorMs = Math.min(...sites.filter((o) => o !== site).map((o) => siteRttMs(planet, site, o)));
    return {
      site,
      ok: latencies.length,
      errors: tally.errors.get(site)!,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      floorMs,
    };
  });
  const totalWrites = results.reduce((a, r) => a + r.ok, 0);
  const bytesPerWrite = tally.bytes / Math.max(1, totalWrites);
  for (const r of results) {
    ctx.log(
      `  ${tally.label} ${r.site}: ${r.ok} ok, ${r.errors} errors, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms`,
    );
  }
  ctx.log(
    `  ${tally.label}: WAN bytes per write ${bytesPerWrite.toFixed(0)} (${totalWrites} writes, idle rate subtracted)`,
  );
  return { results, bytesPerWrite };
}
