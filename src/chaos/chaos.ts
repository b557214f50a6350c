// The chaos library: inject a fault, list and heal faults, run the monkey. Every fault is
// held by a long-lived party that reverts it at its time-to-live even if this process dies:
// a site's supervisor for faults in one site (POST /v1/faults), the WAN link processes for
// faults between two places (a cut or slow with a ttl). This process only asks, and writes
// what it asked as history records on its own monotonic clock, so a caller that runs load,
// chaos and the checker together (`redshirt proof`) gets one timeline.
import {
  callControl,
  type FaultAnswer,
  type FaultsAnswer,
  type FaultView,
  type HealAnswer,
  siteTarget,
} from "../cattle/index.ts";
import { type Clock, isRedshirtError, type Random, systemClock, systemRandom } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import type { FaultEndRecord, FaultKind, FaultRecord } from "../verify/index.ts";
import { type LinkStatus, WanAdminClient } from "../wan/index.ts";
import { chaosErrors } from "./errors.ts";
import { createMonkey, type Monkey, type MonkeyOptions } from "./monkey.ts";
import { checkSpec, type FaultSpec } from "./spec.ts";

/** Requests of one injection to a supervisor (the same fault id each time). */
const injectAttemptsMax = 2;

export type ChaosOptions = {
  readonly planet: Planet;
  /** The planet secret (the control token derives from it). */
  readonly secret: Buffer;
  /** Record times come from its monoMs (default: this process's performance.now()). */
  readonly clock?: Clock;
  /** Fault ids (default: system randomness; seed it to replay a schedule). */
  readonly random?: Random;
  readonly timeoutMs?: number;
};

/** A fault as `list` shows it, from whichever party holds it. */
export type ListedFault = {
  readonly id: string;
  readonly kind: FaultKind;
  readonly site: string;
  readonly peer: string | null;
  readonly tier: string | null;
  readonly slot: string | null;
  readonly instance: string | null;
  readonly ttlMs: number;
  readonly expiresInMs: number;
  readonly heldBy: string;
};

export type FaultListing = {
  readonly faults: readonly ListedFault[];
  /** Parties that did not answer (their faults are not listed; they still revert them). */
  readonly unreachable: readonly { readonly party: string; readonly error: string }[];
};

export type Chaos = {
  /** Injects one fault and answers its history record once the holding party has applied it. */
  inject(spec: FaultSpec): Promise<FaultRecord>;
  list(): Promise<FaultListing>;
  /** Reverts one fault now (every party that holds it); its fault-end record. */
  heal(id: string): Promise<FaultEndRecord>;
  /** Reverts every fault the planet holds. */
  healAll(): Promise<FaultEndRecord[]>;
  monkey(options: MonkeyOptions): Monkey;
  close(): Promise<void>;
};

/**
 * The prefix of a chaos session's fault ids: unique per run, not per seed. A holder keeps
 * ended faults and answers a known id as done (so a retried injection is idempotent); a
 * second run of the same seed with seeded ids had its faults answered as done and never
 * injected — and reported them as if they had happened.
 */
export function faultIdPrefix(clock: Clock, random: Random): string {
  return `f${Math.floor(clock.nowMs()).toString(36)}${random.int(36 ** 3).toString(36)}`;
}

export function createChaos(o: ChaosOptions): Chaos {
  const clock = o.clock ?? systemClock;
  const random = o.random ?? systemRandom;
  const prefix = faultIdPrefix(clock, random);
  let seq = 0;
  const wan =
    o.planet.wan.mode === "emulated"
      ? new WanAdminClient({ planet: o.planet, secret: o.secret, timeoutMs: o.timeoutMs })
      : undefined;
  const control = <T>(
    site: string,
    route: "faults" | "injectFault" | "healFault",
    extra: { params?: Record<string, string>; body?: unknown } = {},
  ) => callControl<T>(siteTarget(o.planet, site), o.secret, route, { ...extra, timeoutMs: o.timeoutMs });

  const unreachable = (party: string, err: unknown): Error =>
    isRedshirtError(err) && err.code !== "RS_ERR_CATTLE_CONTROL_UNREACHABLE" && err.code !== "RS_ERR_WAN_ADMIN"
      ? err
      : chaosErrors.create("RS_ERR_CHAOS_UNREACHABLE", `${party}: ${(err as Error).message}`, { cause: err });

  async function inject(raw: FaultSpec): Promise<FaultRecord> {
    const spec = checkSpec(o.planet, raw);
    const id = `${prefix}-${++seq}`;
    const startMs = clock.monoMs();
    const startedWallMs = clock.nowMs();
    if (spec.kind === "partition" || spec.kind === "slow-link") {
      if (!wan) throw chaosErrors.create("RS_ERR_CHAOS_BAD_SPEC", "kind: the planet's WAN is not emulated");
      const peer = spec.peer as string;
      const ttl = { ttlMs: spec.ttlMs, faultId: id };
      try {
        if (spec.kind === "partition") await wan.cutBetween(spec.site, peer, ttl);
        else {
          const change = { extraDelayMs: spec.extraDelayMs, bandwidthMbps: spec.bandwidthMbps };
          await wan.slowBetween(spec.site, peer, change, ttl);
        }
      } catch (err) {
        throw unreachable(`links between ${spec.site} and ${peer}`, err);
      }
      const detail =
        spec.kind === "slow-link"
          ? `extraDelayMs=${spec.extraDelayMs ?? 0} bandwidthMbps=${spec.bandwidthMbps ?? "-"}`
          : undefined;
      return {
        type: "fault",
        id,
        kind: spec.kind,
        target: { site: spec.site, peer },
        startMs,
        ttlMs: spec.ttlMs,
        ...(detail ? { detail } : {}),
      };
    }
    const body = {
      id,
      kind: spec.kind,
      ttlMs: spec.ttlMs,
      ...(spec.kind === "kill-tier" ? { tier: spec.tier } : {}),
      ...(spec.node !== undefined ? { slot: spec.node } : {}),
      ...(spec.slot !== undefined ? { slot: spec.slot } : {}),
      ...(spec.instance !== undefined ? { instance: spec.instance } : {}),
      ...(spec.kind === "clock-skew" ? { offsetMs: spec.offsetMs } : {}),
    };
    let view: FaultView | undefined;
    // The id makes the request idempotent: an answer lost on the way is asked for again
    // with the same id, and the supervisor applies the fault once.
    for (let attempt = 1; view === undefined; attempt++) {
      try {
        view = (await control<FaultAnswer>(spec.site, "injectFault", { body })).fault;
      } catch (err) {
        const lost = isRedshirtError(err) && err.code === "RS_ERR_CATTLE_CONTROL_UNREACHABLE";
        if (!lost || attempt >= injectAttemptsMax) throw unreachable(`supervisor of ${spec.site}`, err);
      }
    }
    // Idempotent by id: a fault that had already ended under this id was not injected now.
    if (view.endedAtMs !== null && view.startedAtMs < startedWallMs - 1_000) {
      throw chaosErrors.create(
        "RS_ERR_CHAOS_ID_USED",
        `id ${id}: the supervisor of ${spec.site} holds it as ended at ${new Date(view.endedAtMs).toISOString()}`,
      );
    }
    const target = {
      site: spec.site,
      ...(view.tier ? { tier: view.tier } : {}),
      ...(view.instance ? { instance: view.instance } : {}),
    };
    const detail =
      spec.kind === "clock-skew" ? `offsetMs=${spec.offsetMs}` : view.slot ? `slot=${view.slot}` : undefined;
    return { type: "fault", id, kind: spec.kind, target, startMs, ttlMs: spec.ttlMs, ...(detail ? { detail } : {}) };
  }

  async function list(): Promise<FaultListing> {
    const faults: ListedFault[] = [];
    const missed: { party: string; error: string }[] = [];
    await Promise.all(
      o.planet.sites.map(async (s) => {
        try {
          const answer = await control<FaultsAnswer>(s.name, "faults");
          for (const f of answer.active) faults.push(fromView(f));
        } catch (err) {
          missed.push({ party: `supervisor of ${s.name}`, error: (err as Error).message });
        }
      }),
    );
    if (wan) {
      const byId = new Map<string, ListedFault>();
      await Promise.all(
        o.planet.wanProcesses.map(async (w) => {
          try {
            for (const l of (await wan.links(w.site)).links)
              if (l.fault) byId.set(l.fault.id, fromLink(l, byId.get(l.fault.id)));
          } catch (err) {
            missed.push({ party: `WAN links of ${w.site}`, error: (err as Error).message });
          }
        }),
      );
      faults.push(...byId.values());
    }
    faults.sort((a, b) => a.id.localeCompare(b.id));
    return { faults, unreachable: missed };
  }

  async function heal(id: string): Promise<FaultEndRecord> {
    const { faults } = await list();
    const held = faults.filter((f) => f.id === id);
    if (held.length === 0) throw chaosErrors.create("RS_ERR_CHAOS_NO_FAULT", JSON.stringify(id));
    for (const f of held) await healOne(f);
    return { type: "fault-end", id, endMs: clock.monoMs(), reason: "healed" };
  }

  async function healOne(f: ListedFault): Promise<void> {
    if (f.kind === "partition" || f.kind === "slow-link") {
      const peer = f.peer as string;
      if (f.kind === "partition") await wan?.healBetween(f.site, peer);
      else await wan?.unslowBetween(f.site, peer);
      return;
    }
    await control<HealAnswer>(f.site, "healFault", { params: { id: f.id } });
  }

  async function healAll(): Promise<FaultEndRecord[]> {
    const { faults } = await list();
    const ends: FaultEndRecord[] = [];
    for (const f of faults) {
      await healOne(f);
      ends.push({ type: "fault-end", id: f.id, endMs: clock.monoMs(), reason: "healed" });
    }
    return ends;
  }

  const chaos: Chaos = {
    inject,
    list,
    heal,
    healAll,
    monkey: (options) => createMonkey(o.planet, clock, (spec) => inject(spec), options),
    close: async () => {
      await wan?.close();
    },
  };
  return chaos;
}

function fromView(f: FaultView): ListedFault {
  return {
    id: f.id,
    kind: f.kind,
    site: f.site,
    peer: null,
    tier: f.tier,
    slot: f.slot,
    instance: f.instance,
    ttlMs: f.ttlMs,
    expiresInMs: f.expiresInMs,
    heldBy: `supervisor of ${f.site}`,
  };
}

/** A link fault; the two directions of a partition share one id (listed once, the longer expiry). */
function fromLink(l: LinkStatus, seen: ListedFault | undefined): ListedFault {
  const fault = l.fault as NonNullable<LinkStatus["fault"]>;
  const expiresInMs = Math.max(fault.expiresInMs, seen?.expiresInMs ?? 0);
  return {
    id: fault.id,
    kind: fault.kind === "cut" ? "partition" : "slow-link",
    site: seen?.site ?? l.from,
    peer: seen?.peer ?? l.to,
    tier: null,
    slot: null,
    instance: null,
    ttlMs: fault.ttlMs,
    expiresInMs,
    heldBy: seen ? `${seen.heldBy}, ${l.from}->${l.to}` : `link ${l.from}->${l.to}`,
  };
}
