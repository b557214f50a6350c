// The monkey: continuous random faults from a seeded generator, at a mean rate, within a
// blast-radius limit, so it tests what the platform promises and never what nothing could
// survive. The planner (planFault) is pure: the planet, the faults the monkey holds now, the
// generator; the same seed and clock replay the same schedule. The runner asks chaos to
// inject each planned fault — the holding party reverts it at its TTL, so a monkey that is
// killed leaves nothing behind for longer than a TTL.
//
// Limits (defaults): at most one site down (and never the last serving one), at most one
// store node down per site — every partition's replica set in a site spans its nodes, so
// that keeps a quorum of each in every site — at most one partition, at most three faults
// at once.
import type { Clock, Random, TimerHandle } from "../core/index.ts";
import { seededRandom } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import { type FaultEndRecord, type FaultKind, type FaultRecord, faultKinds } from "../verify/index.ts";
import { chaosErrors } from "./errors.ts";
import type { FaultSpec, KillableTier } from "./spec.ts";

export type MonkeyLimits = {
  readonly sitesDownMax: number;
  readonly storeNodesDownPerSiteMax: number;
  readonly partitionsMax: number;
  readonly faultsMax: number;
};

export const monkeyLimitsDefault: MonkeyLimits = {
  sitesDownMax: 1,
  storeNodesDownPerSiteMax: 1,
  partitionsMax: 1,
  faultsMax: 3,
};

/** Kinds the monkey draws from unless told otherwise: every kind the history format knows. */
export const monkeyKindsDefault: readonly FaultKind[] = faultKinds;

/** Tries per planned fault before the monkey lets a turn pass (every candidate broke a limit). */
const candidatesPerTurnMax = 16;
/** Faults the monkey remembers as held; a planet never needs more at once. */
const activeMax = 256;

export type MonkeyFault = {
  readonly id: string;
  readonly kind: FaultKind;
  readonly site: string;
  readonly peer?: string;
  /** Store nodes this fault takes down (every node of the site for kill-site, kill-tier store). */
  readonly storeNodes: readonly string[];
  readonly endsAtMs: number;
};

export type MonkeyOptions = {
  readonly seed: number;
  /** Mean faults per minute (inter-arrival times are exponential). */
  readonly ratePerMin: number;
  /** Each fault's time-to-live: fixed, or drawn uniformly from a range. */
  readonly ttlMs: number | { readonly minMs: number; readonly maxMs: number };
  readonly kinds?: readonly FaultKind[];
  readonly limits?: Partial<MonkeyLimits>;
  /** Sites the monkey may touch (default: all). */
  readonly sites?: readonly string[];
  /** Each fault record when injected, and its fault-end at its TTL. */
  readonly onFault?: (record: FaultRecord | FaultEndRecord) => void;
  /** An injection that failed (the monkey goes on). */
  readonly onError?: (err: unknown, spec: FaultSpec) => void;
};

export type Monkey = {
  readonly injected: number;
  /** Turns in which every candidate broke a limit. */
  readonly blocked: number;
  readonly failed: number;
  active(): readonly MonkeyFault[];
  /** Stops drawing; faults already injected are reverted by their holders at their TTL. */
  stop(): Promise<void>;
};

export type PlanContext = {
  readonly planet: Planet;
  readonly random: Random;
  readonly kinds: readonly FaultKind[];
  readonly limits: MonkeyLimits;
  readonly sites: readonly string[];
  readonly active: readonly MonkeyFault[];
  readonly ttlMs: number;
};

function pick<T>(random: Random, list: readonly T[]): T | undefined {
  return list.length === 0 ? undefined : list[random.int(list.length)];
}

function storeNodesOf(planet: Planet, site: string): string[] {
  return planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
}

/** The store nodes a spec takes down. */
export function storeNodesDownBy(planet: Planet, spec: FaultSpec & { site: string }): string[] {
  if (spec.kind === "kill-site" || (spec.kind === "kill-tier" && spec.tier === "store")) {
    return storeNodesOf(planet, spec.site);
  }
  if (spec.kind === "empty-disk" || spec.kind === "clock-skew") return spec.node ? [spec.node] : [];
  if (
    (spec.kind === "kill-instance" || spec.kind === "pause") &&
    spec.slot &&
    storeNodesOf(planet, spec.site).includes(spec.slot)
  ) {
    return [spec.slot];
  }
  return [];
}

/** Whether one more fault keeps every limit. */
export function withinLimits(
  planet: Planet,
  limits: MonkeyLimits,
  active: readonly MonkeyFault[],
  spec: FaultSpec & { site: string },
): boolean {
  if (active.length >= limits.faultsMax) return false;
  if (spec.kind === "kill-site") {
    const down = new Set(active.filter((f) => f.kind === "kill-site").map((f) => f.site));
    down.add(spec.site);
    // Never the last serving site.
    if (down.size > Math.min(limits.sitesDownMax, planet.sites.length - 1)) return false;
  }
  if (spec.kind === "partition" && active.filter((f) => f.kind === "partition").length >= limits.partitionsMax)
    return false;
  // A skewed clock keeps its node serving: it does not count as a node down.
  if (spec.kind !== "clock-skew" && spec.kind !== "kill-site") {
    // A site loss is limited on its own; the nodes it takes down come back with it, so they
    // do not count here (a store tier killed inside a lost site would outlast it).
    const holding = active.filter((f) => f.site === spec.site && f.kind !== "clock-skew" && f.kind !== "kill-site");
    const nodes = new Set(holding.flatMap((f) => f.storeNodes));
    const before = nodes.size;
    for (const n of storeNodesDownBy(planet, spec)) nodes.add(n);
    if (nodes.size > before && nodes.size > limits.storeNodesDownPerSiteMax) return false;
  }
  // One fault per target at a time (a second pause of a paused process is refused anyway).
  return !active.some(
    (f) =>
      f.site === spec.site &&
      f.kind === spec.kind &&
      (f.peer ?? "") === (spec.peer ?? "") &&
      sameStore(planet, f, spec),
  );
}

function sameStore(planet: Planet, f: MonkeyFault, spec: FaultSpec & { site: string }): boolean {
  const nodes = storeNodesDownBy(planet, spec);
  return nodes.length === 0 || nodes.some((n) => f.storeNodes.includes(n));
}

/** One candidate of a kind, or undefined when the planet has no target for it. */
function candidate(ctx: PlanContext, kind: FaultKind): (FaultSpec & { site: string }) | undefined {
  const { planet, random, ttlMs } = ctx;
  const site = pick(random, ctx.sites);
  if (!site) return undefined;
  const s = planet.sites.find((x) => x.name === site);
  if (!s) return undefined;
  const slotsOf = (tier: KillableTier): string[] => {
    if (tier === "app") return Array.from({ length: s.tiers.app }, (_, k) => `app#${k + 1}`);
    const list =
      tier === "store"
        ? planet.storeNodes
        : tier === "gateway"
          ? planet.gateways
          : tier === "dns"
            ? planet.dnsServers
            : planet.wanProcesses;
    return list.filter((n) => n.site === site).map((n) => n.id);
  };
  switch (kind) {
    case "kill-instance":
    case "pause": {
      const tier = pick(random, ["app", "gateway", "dns", "store"] as const) as KillableTier;
      const slot = pick(random, slotsOf(tier));
      return slot ? { kind, site, slot, ttlMs } : undefined;
    }
    case "kill-tier": {
      const tier = pick(random, ["app", "gateway", "dns", "store"] as const) as KillableTier;
      return slotsOf(tier).length > 0 ? { kind, site, tier, ttlMs } : undefined;
    }
    case "kill-site":
      return { kind, site, ttlMs };
    case "partition":
    case "slow-link": {
      if (planet.wan.mode !== "emulated") return undefined;
      const peer = pick(
        random,
        ctx.sites.filter((x) => x !== site),
      );
      if (!peer) return undefined;
      if (kind === "partition") return { kind, site, peer, ttlMs };
      return { kind, site, peer, extraDelayMs: 20 + random.int(300), ttlMs };
    }
    case "clock-skew": {
      const node = pick(random, storeNodesOf(planet, site));
      // Within the HLC's drift bound (60 s): stamps move, peers still take them.
      const offsetMs = (1 + random.int(20)) * 1_000 * (random.next() < 0.5 ? -1 : 1);
      return node ? { kind, site, node, offsetMs, ttlMs } : undefined;
    }
    case "empty-disk": {
      const node = pick(random, storeNodesOf(planet, site));
      return node ? { kind, site, node, ttlMs } : undefined;
    }
  }
}

/** The next fault to inject, or why none fits this turn. Pure: same inputs, same answer. */
export function planFault(ctx: PlanContext): { spec: FaultSpec & { site: string } } | { blocked: string } {
  if (ctx.active.length >= ctx.limits.faultsMax) return { blocked: `${ctx.active.length} faults held (faultsMax)` };
  for (let i = 0; i < candidatesPerTurnMax; i++) {
    const kind = pick(ctx.random, ctx.kinds);
    if (!kind) return { blocked: "no kinds" };
    const spec = candidate(ctx, kind);
    if (spec && withinLimits(ctx.planet, ctx.limits, ctx.active, spec)) return { spec };
  }
  return { blocked: "every candidate broke a limit" };
}

function checkOptions(planet: Planet, o: MonkeyOptions): void {
  const bad = (text: string) => chaosErrors.create("RS_ERR_CHAOS_BAD_SPEC", `monkey: ${text}`);
  if (!Number.isInteger(o.seed)) throw bad(`seed: an integer (got ${JSON.stringify(o.seed)})`);
  if (!(o.ratePerMin > 0 && o.ratePerMin <= 600))
    throw bad(`rate: faults per minute, above 0 and at most 600 (got ${o.ratePerMin})`);
  const ttl = typeof o.ttlMs === "number" ? { minMs: o.ttlMs, maxMs: o.ttlMs } : o.ttlMs;
  if (!(ttl.minMs >= 0 && ttl.maxMs >= ttl.minMs)) throw bad(`ttl: 0 ≤ min ≤ max (got ${JSON.stringify(o.ttlMs)})`);
  for (const s of o.sites ?? []) {
    if (!planet.sites.some((x) => x.name === s)) throw bad(`sites: ${JSON.stringify(s)} is not a site of the planet`);
  }
}

/** Runs the planner on a clock: one turn after each exponential gap, one injection in flight at a time. */
export function createMonkey(
  planet: Planet,
  clock: Clock,
  inject: (spec: FaultSpec) => Promise<FaultRecord>,
  o: MonkeyOptions,
): Monkey {
  checkOptions(planet, o);
  const random = seededRandom(o.seed);
  const limits = { ...monkeyLimitsDefault, ...o.limits };
  const kinds = o.kinds ?? monkeyKindsDefault;
  const sites = o.sites ?? planet.sites.map((s) => s.name);
  const meanGapMs = 60_000 / o.ratePerMin;
  let active: MonkeyFault[] = [];
  const endTimers = new Set<TimerHandle>();
  let timer: TimerHandle | undefined;
  let inFlight: Promise<void> | undefined;
  let stopped = false;
  const stats = { injected: 0, blocked: 0, failed: 0 };

  const ttlNow = (): number =>
    typeof o.ttlMs === "number" ? o.ttlMs : o.ttlMs.minMs + random.int(o.ttlMs.maxMs - o.ttlMs.minMs + 1);

  const schedule = (): void => {
    if (stopped) return;
    // Exponential gaps: a Poisson process of faults at the mean rate.
    const gapMs = -Math.log(1 - random.next()) * meanGapMs;
    timer = clock.setTimer(gapMs, turn);
  };

  const turn = (): void => {
    if (stopped) return;
    const nowMs = clock.monoMs();
    active = active.filter((f) => f.endsAtMs > nowMs);
    if (!inFlight) {
      const plan = planFault({ planet, random, kinds, limits, sites, active, ttlMs: ttlNow() });
      if ("blocked" in plan) stats.blocked++;
      else
        inFlight = run(plan.spec).finally(() => {
          inFlight = undefined;
        });
    }
    schedule();
  };

  const run = async (spec: FaultSpec & { site: string }): Promise<void> => {
    try {
      const record = await inject(spec);
      stats.injected++;
      const f: MonkeyFault = {
        id: record.id,
        kind: spec.kind,
        site: spec.site,
        ...(spec.peer ? { peer: spec.peer } : {}),
        storeNodes: storeNodesDownBy(planet, spec),
        endsAtMs: record.startMs + record.ttlMs,
      };
      if (active.length < activeMax) active.push(f);
      o.onFault?.(record);
      const end = clock.setTimer(record.ttlMs, () => {
        endTimers.delete(end);
        o.onFault?.({ type: "fault-end", id: record.id, endMs: clock.monoMs(), reason: "ttl" });
      });
      endTimers.add(end);
    } catch (err) {
      stats.failed++;
      o.onError?.(err, spec);
    }
  };

  schedule();
  return {
    get injected() {
      return stats.injected;
    },
    get blocked() {
      return stats.blocked;
    },
    get failed() {
      return stats.failed;
    },
    active: () => active.filter((f) => f.endsAtMs > clock.monoMs()),
    async stop() {
      stopped = true;
      timer?.cancel();
      await inFlight;
      // The holders still revert each fault at its TTL; the fault records say when (startMs + ttlMs).
      for (const t of endTimers) t.cancel();
      endTimers.clear();
    },
  };
}
