// Where users were served: how long the users of a lost site waited until something served
// them again, and how many requests a site other than the region's nearest answered while
// nothing was wrong with the nearest one.
import type { FaultRecord, HistoryHeader, OpRecord } from "./history.ts";
import { newHistogram, percentilesOf, recordMs } from "./latency.ts";
import type { Anomaly, SiteLossReport } from "./report.ts";
import { opRef } from "./user-model.ts";

export type Fault = FaultRecord & { readonly effectiveEndMs: number };

/** A killed process's in-flight answers may still arrive this long after the kill (the kill itself takes a moment). */
export const killTakesMsMax = 1_000;

type Wait = { readonly fault: SiteLoss; readonly startMs: number; readonly firstRef: ReturnType<typeof opRef> };
type SiteLoss = {
  readonly fault: Fault;
  affected: number;
  served: number;
  maxWaitMs: number;
  maxWaitUser: string | null;
  maxWaitRef: ReturnType<typeof opRef> | undefined;
  overLimit: number;
  never: number;
  readonly waits: ReturnType<typeof newHistogram>;
};

/** Per-user routing state: kept beside the user's model. */
export type UserRouting = { lastServedSite: string | undefined; nextLoss: number; waiting: Wait[] };

export function newUserRouting(): UserRouting {
  return { lastServedSite: undefined, nextLoss: 0, waiting: [] };
}

export class RoutingBook {
  readonly #nearest: Map<string, string>;
  readonly #losses: SiteLoss[];
  /** Per site, the windows during which a fault on it (plus the settle time) excuses serving elsewhere. */
  readonly #faultWindows = new Map<string, [number, number][]>();
  readonly #recoveryMsMax: number;
  nonNearest = 0;
  eligible = 0;
  excluded = 0;
  /**
   * Kills that did not take: per fault, the ops its target (a lost site, a killed app
   * instance) served that began a grace after the kill and ended before its TTL. A chaos
   * tool that reports a fault it never injected would make every other figure a lie.
   */
  readonly #kills: { readonly fault: Fault; servedDuring: number }[];

  constructor(header: HistoryHeader, faults: readonly Fault[], options: { recoveryMsMax: number; settleMs: number }) {
    this.#nearest = new Map(header.regions.map((r) => [r.name, r.nearestSite]));
    this.#recoveryMsMax = options.recoveryMsMax;
    this.#losses = faults
      .filter((f) => f.kind === "kill-site")
      .sort((a, b) => a.startMs - b.startMs)
      .map((fault) => ({
        fault,
        affected: 0,
        served: 0,
        maxWaitMs: 0,
        maxWaitUser: null,
        maxWaitRef: undefined,
        overLimit: 0,
        never: 0,
        waits: newHistogram(),
      }));
    this.#kills = faults
      .filter((f) => f.kind === "kill-site" || (f.kind === "kill-instance" && f.target.tier === "app"))
      .map((fault) => ({ fault, servedDuring: 0 }));
    for (const f of faults) {
      for (const site of [f.target.site, f.target.peer]) {
        if (site === undefined) continue;
        const list = this.#faultWindows.get(site) ?? [];
        list.push([f.startMs, f.effectiveEndMs + options.settleMs]);
        this.#faultWindows.set(site, list);
      }
    }
  }

  observe(op: OpRecord, line: number, state: UserRouting): void {
    if (op.served !== undefined) {
      for (const k of this.#kills) {
        const f = k.fault;
        if (op.startMs < f.startMs + killTakesMsMax || op.endMs > f.effectiveEndMs) continue;
        const hit =
          f.kind === "kill-site" ? op.served.site === f.target.site : op.served.instance === f.target.instance;
        if (hit) k.servedDuring++;
      }
    }
    const nearest = this.#nearest.get(op.region);
    // Site losses that began before this op ended: decide whether this user is one of the site's.
    while (state.nextLoss < this.#losses.length && this.#losses[state.nextLoss].fault.startMs < op.endMs) {
      const loss = this.#losses[state.nextLoss++];
      const site = loss.fault.target.site;
      // Users who came back only after the site did were not kept waiting by its loss.
      if (op.startMs >= loss.fault.effectiveEndMs) continue;
      if (nearest !== site && state.lastServedSite !== site) continue;
      loss.affected++;
      state.waiting.push({ fault: loss, startMs: Math.max(loss.fault.startMs, op.startMs), firstRef: opRef(op, line) });
    }
    if (op.outcome.result === "ok") {
      for (const wait of state.waiting) this.#served(wait, op.user, op.endMs - wait.startMs);
      state.waiting = [];
    }
    if (op.served !== undefined) state.lastServedSite = op.served.site;
    if (op.outcome.result !== "ok" || op.served === undefined || nearest === undefined) return;
    const windows = this.#faultWindows.get(nearest) ?? [];
    if (windows.some(([from, to]) => op.startMs < to && op.endMs > from)) {
      this.excluded++;
      return;
    }
    this.eligible++;
    if (op.served.site !== nearest) this.nonNearest++;
  }

  #served(wait: Wait, user: string, waitMs: number): void {
    const loss = wait.fault;
    loss.served++;
    recordMs(loss.waits, waitMs);
    if (waitMs > this.#recoveryMsMax) loss.overLimit++;
    if (waitMs > loss.maxWaitMs || loss.maxWaitUser === null) {
      loss.maxWaitMs = waitMs;
      loss.maxWaitUser = user;
      loss.maxWaitRef = wait.firstRef;
    }
  }

  /** The history ended at endMs: users still waiting waited until then. */
  finishUser(user: string, state: UserRouting, endMs: number): void {
    for (const wait of state.waiting) {
      const loss = wait.fault;
      loss.never++;
      const waitMs = endMs - wait.startMs;
      if (waitMs > this.#recoveryMsMax) loss.overLimit++;
      if (waitMs > loss.maxWaitMs || loss.maxWaitUser === null) {
        loss.maxWaitMs = waitMs;
        loss.maxWaitUser = user;
        loss.maxWaitRef = wait.firstRef;
      }
    }
    state.waiting = [];
  }

  /** One anomaly per site loss whose worst-served user waited past the limit. */
  anomalies(): Anomaly[] {
    return this.#losses
      .filter((l) => l.overLimit > 0 && l.maxWaitRef !== undefined)
      .map((l) => ({
        kind: "slow-recovery" as const,
        user: l.maxWaitUser!,
        op: l.maxWaitRef!,
        expected: `served within ${this.#recoveryMsMax} ms of the loss of site ${l.fault.target.site} (fault ${l.fault.id})`,
        seen: `waited ${Math.round(l.maxWaitMs)} ms${l.never > 0 ? `; ${l.never} users never served again` : ""}; ${l.overLimit} of ${l.affected} users over the limit`,
      }));
  }

  /** The kills whose target went on serving while it should have been down. */
  killsNotTaken(): {
    readonly faultId: string;
    readonly kind: string;
    readonly target: string;
    readonly servedDuring: number;
  }[] {
    return this.#kills
      .filter((k) => k.servedDuring > 0)
      .map((k) => ({
        faultId: k.fault.id,
        kind: k.fault.kind,
        target: k.fault.target.instance ?? k.fault.target.site,
        servedDuring: k.servedDuring,
      }));
  }

  siteLosses(): SiteLossReport[] {
    return this.#losses.map((l) => {
      const p = percentilesOf(l.waits);
      return {
        faultId: l.fault.id,
        site: l.fault.target.site,
        startMs: l.fault.startMs,
        endMs: l.fault.effectiveEndMs,
        affectedUsers: l.affected,
        servedAgainUsers: l.served,
        maxWaitMs: l.maxWaitMs,
        maxWaitUser: l.maxWaitUser,
        p50WaitMs: p.p50Ms,
        p99WaitMs: p.p99Ms,
        neverServedUsers: l.never,
      };
    });
  }
}
