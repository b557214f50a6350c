// The live view a page draws: per site its health, evacuation phase, faults, tiers and every
// instance (its state and, from the virtual users' ops, req/s, p99 and errors), the arcs
// from each client region to the sites serving it, the cut links, and what runs.
import type { FaultView, SiteAnswer, TierRow } from "../cattle/index.ts";
import type { Site } from "../topology/index.ts";
import type { Arc, Figures, TrafficView } from "./traffic-stats.ts";

/** healthy: every tier ready; degraded: some instance missing; down: no gateway or app ready, or no answer; evacuated: users steered away. */
export type Health = "healthy" | "degraded" | "down" | "evacuated";

export type InstanceView = {
  readonly slot: string;
  readonly tier: string;
  readonly state: string;
  readonly id: string | null;
  readonly pid: number | null;
  readonly address: string | null;
  readonly ageMs: number | null;
  readonly restarts: number;
  readonly figures: Figures | null;
};

export type SiteView = {
  readonly name: string;
  readonly reachable: boolean;
  readonly error: string | null;
  readonly health: Health;
  readonly phase: string;
  readonly localHour: number | null;
  readonly faults: readonly FaultView[];
  readonly tiers: readonly TierRow[];
  readonly instances: readonly InstanceView[];
  readonly figures: Figures | null;
};

export type PlanetView = {
  readonly nowMs: number;
  /** The time the day/night terminator is drawn for: the follow-the-sun clock when the planet has one. */
  readonly sunUtcMs: number;
  readonly sunClockSpeed: number;
  readonly sites: readonly SiteView[];
  readonly arcs: readonly Arc[];
  readonly regions: Readonly<Record<string, Figures>>;
  /** Site pairs whose links are cut (both sorted by name). */
  readonly partitions: readonly (readonly [string, string])[];
  readonly load: {
    readonly running: boolean;
    readonly usersPerRegion: number;
    readonly ops: number;
    readonly errors: number;
  };
  readonly monkey: {
    readonly running: boolean;
    readonly injected: number;
    readonly blocked: number;
    readonly failed: number;
  };
};

/** The site's supervisor holds a kill-site fault: every process of the site is down, it serves nobody. */
export function killedWhole(answer: SiteAnswer): boolean {
  return answer.reachable && answer.status.faults.some((f) => f.kind === "kill-site");
}

function healthOf(answer: SiteAnswer): Health {
  if (!answer.reachable) return "down";
  const s = answer.status;
  if (s.evacuation.phase === "evacuating" || s.evacuation.phase === "evacuated") return "evacuated";
  const ready = (tier: string) => s.tiers.find((t) => t.tier === tier)?.ready ?? 0;
  if (killedWhole(answer) || ready("gateway") === 0 || ready("app") === 0) return "down";
  return s.ready ? "healthy" : "degraded";
}

export function siteView(site: Site, answer: SiteAnswer | undefined, traffic: TrafficView): SiteView {
  const figures = traffic.sites[site.name] ?? null;
  if (!answer?.reachable) {
    return {
      name: site.name,
      reachable: false,
      error: answer ? `${answer.code}: ${answer.error}` : "not asked yet",
      health: "down",
      phase: "unknown",
      localHour: null,
      faults: [],
      tiers: [],
      instances: [],
      figures,
    };
  }
  const s = answer.status;
  return {
    name: site.name,
    reachable: true,
    error: null,
    health: healthOf(answer),
    phase: s.evacuation.phase,
    localHour: s.sun?.localHour ?? null,
    faults: s.faults,
    tiers: s.tiers,
    instances: s.instances.map((r) => ({
      slot: r.slot,
      tier: r.tier,
      state: r.state,
      id: r.id,
      pid: r.pid,
      address: r.address,
      ageMs: r.ageMs,
      restarts: r.restarts,
      figures: r.id ? (traffic.instances[r.id] ?? null) : null,
    })),
    figures,
  };
}
