// The proof's chaos schedule: over the run, on its seed, a fixed scenario — a whole site
// killed and brought back, two sites partitioned and healed, a store node (every node
// coordinates the writes sent to it) killed and left dead to the end, a node rebuilt from an
// empty disk, a skewed clock, and one kill at each of the app, DNS, gateway and WAN tiers —
// and the monkey's random faults beside it, every one with a TTL and recorded (fault, then
// fault-end) into the run's history on its clock. Spread so that users of every region keep
// being served: at most one site "unserving" at a time (lost, or its gateway, app tier or
// WAN link process down), plus a grace after it for its processes to start again, never the
// last; the monkey also keeps the store limits of src/chaos with the scenario's faults counted.

import { planetStatus, type SiteStatus } from "../cattle/index.ts";
import {
  type Chaos,
  createChaos,
  type FaultSpec,
  type MonkeyFault,
  monkeyLimitsDefault,
  planFault,
  storeNodesDownBy,
} from "../chaos/index.ts";
import { type Random, seededRandom } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import type { FaultKind } from "../verify/index.ts";
import type { ChaosContext, ChaosSchedule } from "./proof.ts";

/** After an unserving fault ends, its site's processes take seconds to start (docs/chaos.md: 3–6.5 s). */
export const unservingGraceMs = 8_000;
/** A whole site starts more slowly on a loaded machine (seen: its WAN link process not up 9 s after the TTL). */
export const siteLossGraceMs = 15_000;
/** A scenario fault whose holder does not answer (e.g. a site still starting) is asked again this often… */
const scenarioRetryGapMs = 1_000;
/** The monkey's kinds: the scenario holds the site loss, the partition and the empty disk. */
const monkeyKinds: readonly FaultKind[] = ["kill-instance", "kill-tier", "pause", "slow-link", "clock-skew"];

export type PlannedFault = { readonly atMs: number; readonly why: string; readonly spec: FaultSpec & { site: string } };

export type ProofScheduleOptions = {
  /** Mean monkey faults per minute (0: the scenario alone). */
  readonly monkeyRatePerMin?: number;
  readonly onLine?: (line: string) => void;
};

function shuffled<T>(random: Random, list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * The fixed scenario for a run of durationMs, in time units of a twentieth of the run: every
 * fault has ended by 16 units (80 %), so the last fifth lets repair converge — but the dead
 * store node, which stays dead to the end. Needs at least two sites (three for the scenario
 * as written; with two, the partition and site loss share a site).
 */
export function proofScenario(planet: Planet, seed: number, durationMs: number): PlannedFault[] {
  const random = seededRandom(seed ^ 0x5c3a_1e01);
  const sites = shuffled(
    random,
    planet.sites.map((s) => s.name),
  );
  const [lost, b, c] = [sites[0] as string, sites[1 % sites.length] as string, sites[2 % sites.length] as string];
  const u = durationMs / 20;
  const ttl = (units: number, minMs = 1_000) => Math.round(Math.max(minMs, units * u));
  const nodes = (site: string) => planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
  const pickNode = (site: string) => {
    const list = nodes(site);
    return list[random.int(list.length)] as string;
  };
  const skewed = pickNode(b);
  const emptied = pickNode(c);
  const deadNode = nodes(b).find((n) => n !== skewed) ?? skewed;
  const gateway = planet.gateways.find((g) => g.site === lost)?.id;
  const dns = planet.dnsServers.find((d) => d.site === c)?.id;
  const offsetMs = (5 + random.int(11)) * 1_000 * (random.next() < 0.5 ? -1 : 1);
  const plan: PlannedFault[] = [
    // The partition first, while every site is up: cut during a site loss, the two others
    // would be islands with no quorum across sites; after it, the lost site may take 15 s
    // and more to start again on a loaded machine (its link process with it).
    ...(b !== c
      ? [
          {
            atMs: 0.5 * u,
            why: "two sites partitioned and healed",
            spec: { kind: "partition", site: b, peer: c, ttlMs: ttl(2.5) },
          },
        ]
      : []),
    {
      atMs: 3.5 * u,
      why: "a whole site lost and brought back",
      spec: { kind: "kill-site", site: lost, ttlMs: ttl(3, 2_000) },
    },
    {
      atMs: 1.5 * u,
      why: "a skewed clock",
      spec: { kind: "clock-skew", site: b, node: skewed, offsetMs, ttlMs: ttl(6) },
    },
    ...(dns
      ? [
          {
            atMs: 3 * u,
            why: "a DNS server killed",
            spec: { kind: "kill-instance", site: c, slot: dns, ttlMs: ttl(2) },
          },
        ]
      : []),
    {
      atMs: 8 * u,
      why: "a node rebuilt from an empty disk",
      spec: { kind: "empty-disk", site: c, node: emptied, ttlMs: ttl(3) },
    },
    // The faults that take a site's users elsewhere (the app tier may be one instance, the
    // gateway is one, the WAN link process is one) all hit the lost site again, so that at
    // no moment two sites are unserving; the site loss's grace is over by 11 units at 60 s.
    {
      atMs: 11 * u,
      why: "an app instance killed",
      spec: { kind: "kill-instance", site: lost, slot: "app#1", ttlMs: ttl(1.5) },
    },
    {
      atMs: 12 * u,
      why: "a store node (a coordinator) killed and left dead",
      // Dead to the end of the run: its TTL ends with the run.
      spec: { kind: "kill-instance", site: b, slot: deadNode, ttlMs: ttl(8) },
    },
    ...(gateway
      ? [
          {
            atMs: 13 * u,
            why: "a gateway killed",
            spec: { kind: "kill-instance", site: lost, slot: gateway, ttlMs: ttl(1.5) },
          },
        ]
      : []),
    {
      atMs: 14.5 * u,
      why: "a WAN link process killed",
      spec: { kind: "kill-tier", site: lost, tier: "wan", ttlMs: ttl(1.5) },
    },
  ] as PlannedFault[];
  return plan.map((p) => ({ ...p, atMs: Math.round(p.atMs) })).sort((x, y) => x.atMs - y.atMs);
}

/** Whether a fault leaves the users of its site without that site (they must go elsewhere). */
export function unserving(planet: Planet, spec: FaultSpec): boolean {
  if (spec.kind === "kill-site") return true;
  if (spec.kind === "kill-tier") return spec.tier !== "dns";
  if (spec.kind === "kill-instance" || spec.kind === "pause") {
    const slot = spec.slot ?? "";
    const apps = planet.sites.find((s) => s.name === spec.site)?.tiers.app ?? 0;
    if (slot.startsWith("app#")) return apps <= 1;
    return planet.gateways.some((g) => g.id === slot) || planet.wanProcesses.some((w) => w.id === slot);
  }
  return false;
}

/** Which tier a fault hits, for the count per tier ("site" for a whole site). */
export function faultTier(planet: Planet, spec: FaultSpec): string {
  if (spec.kind === "kill-site") return "site";
  if (spec.kind === "kill-tier") return spec.tier ?? "?";
  if (spec.kind === "partition" || spec.kind === "slow-link") return "wan";
  if (spec.kind === "clock-skew" || spec.kind === "empty-disk") return "store";
  const slot = spec.slot ?? "";
  if (slot.startsWith("app#")) return "app";
  for (const [tier, list] of [
    ["gateway", planet.gateways],
    ["dns", planet.dnsServers],
    ["store", planet.storeNodes],
    ["wan", planet.wanProcesses],
  ] as const)
    if (list.some((n) => n.id === slot)) return tier;
  return "?";
}

/** Whether a site's users can be served there: its supervisor answers and an app, a gateway and its WAN link process are ready. */
export function siteServing(status: SiteStatus): boolean {
  const ready = (tier: string) => {
    const row = status.tiers.find((t) => t.tier === tier);
    return row === undefined || row.desired === 0 || row.ready >= 1;
  };
  return ready("app") && ready("gateway") && ready("wan");
}

type Held = MonkeyFault & { readonly unserving: boolean };

/** The proof's schedule (scenario + monkey) as the hook of src/cli/proof.ts. */
export function proofSchedule(o: ProofScheduleOptions = {}): ChaosSchedule {
  const ratePerMin = o.monkeyRatePerMin ?? 12;
  return {
    name: `proof scenario + monkey at ${ratePerMin}/min`,
    run: (ctx) => runSchedule(ctx, ratePerMin, o.onLine ?? (() => {})),
  };
}

async function runSchedule(ctx: ChaosContext, ratePerMin: number, say: (line: string) => void): Promise<void> {
  const { planet, clock, signal } = ctx;
  const chaos: Chaos = createChaos({ planet, secret: ctx.secret, clock, random: seededRandom(ctx.seed) });
  const random = seededRandom(ctx.seed ^ 0x6d6f_6e6b);
  const t0 = clock.monoMs();
  const held: Held[] = [];
  const byTier: Record<string, number> = {};
  const pending = new Set<Promise<void>>();
  let failed = 0;
  const graceOf = (f: Held) => (f.kind === "kill-site" ? siteLossGraceMs : f.unserving ? unservingGraceMs : 0);
  const live = (nowMs: number) => held.filter((f) => f.endsAtMs + graceOf(f) > nowMs);
  const sitesUnserving = (nowMs: number) =>
    new Set(
      live(nowMs)
        .filter((f) => f.unserving)
        .map((f) => f.site),
    );

  const inject = async (spec: FaultSpec & { site: string }, why: string, retryUntilMs = 0): Promise<void> => {
    let record: Awaited<ReturnType<Chaos["inject"]>> | undefined;
    while (record === undefined) {
      try {
        record = await chaos.inject(spec);
      } catch (err) {
        const again = clock.monoMs() + scenarioRetryGapMs < retryUntilMs && !signal.aborted;
        say(
          `proof: chaos: ${why} (${spec.kind} on ${spec.site}) failed${again ? ", again in 1 s" : ""}: ${(err as Error).message}`,
        );
        if (!again) {
          failed++;
          return;
        }
        await sleep(clock, scenarioRetryGapMs, signal);
      }
    }
    const tier = faultTier(planet, spec);
    byTier[tier] = (byTier[tier] ?? 0) + 1;
    held.push({
      id: record.id,
      kind: spec.kind,
      site: spec.site,
      ...(spec.peer ? { peer: spec.peer } : {}),
      storeNodes: storeNodesDownBy(planet, spec),
      endsAtMs: record.startMs + record.ttlMs,
      unserving: unserving(planet, spec),
    });
    await ctx.record(record);
    const at = ((record.startMs - t0) / 1000).toFixed(1);
    say(
      `proof: chaos ${at}s ${record.id} ${why}: ${spec.kind} ${describe(spec)} for ${(spec.ttlMs / 1000).toFixed(1)} s`,
    );
    // The holder reverts it at its TTL; the fault-end is written then (or on an early stop).
    // A fault that outlives the run (it should not) gets no fault-end: its record's TTL says when.
    const runLeftMs = t0 + ctx.durationMs - clock.monoMs();
    await sleep(clock, Math.min(record.ttlMs, Math.max(0, runLeftMs)), signal);
    if (!signal.aborted && record.ttlMs <= runLeftMs + 1_000)
      await ctx.record({ type: "fault-end", id: record.id, endMs: clock.monoMs(), reason: "ttl" });
  };
  /** Sites whose users can be served there now, as their supervisors say. */
  const servingSites = async (): Promise<Set<string>> => {
    const answers = await planetStatus({ planet, secret: ctx.secret, timeoutMs: 2_000 });
    return new Set(answers.filter((a) => a.reachable && siteServing(a.status)).map((a) => a.site));
  };
  /**
   * Before a fault that takes a site's users elsewhere: every other site must serve (a site
   * restarted after a fault can take 15 s and more on a loaded machine — seen in the first
   * runs, where a fixed gap was not enough). Waits until then or untilMs.
   */
  const othersServing = async (site: string, untilMs: number): Promise<boolean> => {
    for (;;) {
      const serving = await servingSites();
      if (planet.sites.every((s) => s.name === site || serving.has(s.name))) return true;
      if (clock.monoMs() + scenarioRetryGapMs >= untilMs || signal.aborted) return false;
      await sleep(clock, scenarioRetryGapMs, signal);
    }
  };
  const track = (p: Promise<void>) => {
    pending.add(p);
    p.finally(() => pending.delete(p));
  };

  const scenario = proofScenario(planet, ctx.seed, ctx.durationMs);
  const monkeyEndMs = ctx.durationMs * 0.8;
  let nextMonkeyMs = ratePerMin > 0 ? gapMs(random, ratePerMin) : Number.POSITIVE_INFINITY;
  let step = 0;
  while (!signal.aborted && (step < scenario.length || nextMonkeyMs < monkeyEndMs)) {
    const nextScenarioMs = scenario[step]?.atMs ?? Number.POSITIVE_INFINITY;
    const atMs = Math.min(nextScenarioMs, nextMonkeyMs);
    await sleep(clock, Math.max(0, t0 + atMs - clock.monoMs()), signal);
    if (signal.aborted) break;
    if (nextScenarioMs <= nextMonkeyMs) {
      const p = scenario[step++] as PlannedFault;
      // …until a quarter of the run has passed (the scenario's faults are what the proof is about).
      const untilMs = clock.monoMs() + ctx.durationMs / 4;
      if (unserving(planet, p.spec) && !(await othersServing(p.spec.site, untilMs))) {
        failed++;
        say(`proof: chaos: ${p.why} skipped: not every other site serves again (a fault would leave users unserved)`);
        continue;
      }
      track(inject(p.spec, p.why, untilMs));
      continue;
    }
    nextMonkeyMs += gapMs(random, ratePerMin);
    const nowMs = clock.monoMs();
    const active = live(nowMs);
    const down = sitesUnserving(nowMs);
    // The monkey may not touch a site the scenario is about to hit within its next gap.
    const soon = scenario.slice(step).filter((p) => p.atMs < nowMs - t0 + 10_000);
    const sites = planet.sites
      .map((s) => s.name)
      .filter((s) => !down.has(s) && !soon.some((p) => p.spec.site === s || p.spec.peer === s));
    const plan = planFault({
      planet,
      random,
      kinds: monkeyKinds,
      limits: monkeyLimitsDefault,
      sites,
      active,
      ttlMs: Math.round(Math.min(6_000, Math.max(1_000, ctx.durationMs / 15))),
    });
    if ("blocked" in plan) continue;
    // At most one site unserving at a time (and a grace after), never the last.
    if (unserving(planet, plan.spec)) {
      const untilMs = nowMs - t0 + (plan.spec.ttlMs + unservingGraceMs);
      if (
        down.size > 0 ||
        soon.length > 0 ||
        scenario.slice(step).some((p) => unserving(planet, p.spec) && p.atMs < untilMs)
      )
        continue;
      if (!(await othersServing(plan.spec.site, 0))) continue;
    }
    track(inject(plan.spec, "monkey"));
  }
  await Promise.all([...pending]);
  if (signal.aborted) {
    const ends = await chaos.healAll().catch(() => []);
    for (const end of ends) await ctx.record(end);
  }
  await chaos.close();
  const tiers = Object.entries(byTier)
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  say(`proof: chaos injected ${held.length} faults (${tiers})${failed ? `, ${failed} failed to inject` : ""}`);
}

function describe(spec: FaultSpec): string {
  const parts = [spec.site];
  if (spec.peer) parts.push(`↔ ${spec.peer}`);
  if (spec.tier) parts.push(`tier ${spec.tier}`);
  if (spec.slot) parts.push(spec.slot);
  if (spec.node) parts.push(spec.node);
  if (spec.offsetMs) parts.push(`${spec.offsetMs > 0 ? "+" : ""}${spec.offsetMs} ms`);
  if (spec.extraDelayMs) parts.push(`+${spec.extraDelayMs} ms delay`);
  return parts.join(" ");
}

function gapMs(random: Random, ratePerMin: number): number {
  return -Math.log(1 - random.next()) * (60_000 / ratePerMin);
}

function sleep(clock: ChaosContext["clock"], ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = clock.setTimer(ms, done);
    function done() {
      timer.cancel();
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
