// A rolling deploy of the app tier, one step at a time: given the app slots (running the
// old spec or the new one) and the desired count N, which new slots to add and which old
// ones to retire so that there are never more than N + maxSurge slots and never fewer than
// N − maxUnavailable ready instances (Kubernetes' Deployment rules). A new slot that fails
// `failuresMax` times halts the rollout; the engine then rolls back with the same rules,
// the old spec as the target, so the old version keeps serving throughout. Pure: the
// engine applies each step through stepRollout().
import type { Logger } from "../../core/index.ts";
import type { RolloutView } from "../control/api.ts";
import type { SupervisorMetrics } from "./metrics.ts";
import type { Slot } from "./slots.ts";
import type { AppSpec } from "./tiers.ts";

export const rolloutStates = ["rolling", "done", "rolling-back", "rolled-back"] as const;
export type RolloutState = (typeof rolloutStates)[number];

export type Rollout = {
  readonly id: string;
  state: RolloutState;
  readonly from: AppSpec;
  readonly to: AppSpec;
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly startedAtMs: number;
  endedAtMs: number | null;
  /** Why it rolled back. */
  reason: string | null;
};

/** A new slot failing this many times in a row halts the rollout. */
export const rolloutFailuresMax = 2;

export type RolloutSlot = {
  readonly key: string;
  /** Runs the spec rolled to. */
  readonly isNew: boolean;
  readonly ready: boolean;
  readonly failures: number;
};

export type RolloutStep =
  | { readonly verdict: "rolling"; readonly add: number; readonly retire: readonly string[] }
  | { readonly verdict: "done" }
  | { readonly verdict: "failed"; readonly slot: string };

export function sameSpec(a: AppSpec | undefined, b: AppSpec | undefined): boolean {
  return a !== undefined && b !== undefined && a.entry === b.entry && a.version === b.version;
}

export function planRollout(
  n: number,
  limits: { readonly maxSurge: number; readonly maxUnavailable: number; readonly failuresMax: number },
  slots: readonly RolloutSlot[],
): RolloutStep {
  const fresh = slots.filter((s) => s.isNew);
  const old = slots.filter((s) => !s.isNew);
  const failing = fresh.find((s) => s.failures >= limits.failuresMax);
  if (failing) return { verdict: "failed", slot: failing.key };
  const freshReady = fresh.filter((s) => s.ready);
  if (old.length === 0 && fresh.length === n && freshReady.length === n) return { verdict: "done" };
  const retire: string[] = [];
  // More new slots than wanted (N went down meanwhile): the ones not ready go first.
  const extra = fresh.length - n;
  if (extra > 0) {
    retire.push(
      ...[...fresh]
        .sort((a, b) => Number(a.ready) - Number(b.ready))
        .slice(0, extra)
        .map((s) => s.key),
    );
  }
  // Old slots: those not ready serve nothing and go at once; ready ones while enough stay ready.
  let ready = slots.filter((s) => s.ready && !retire.includes(s.key)).length;
  const minReady = n - limits.maxUnavailable;
  for (const o of [...old].sort((a, b) => Number(a.ready) - Number(b.ready))) {
    if (!o.ready) retire.push(o.key);
    else if (ready - 1 >= minReady) {
      retire.push(o.key);
      ready--;
    } else break;
  }
  const remaining = slots.length - retire.length;
  const add = Math.max(0, Math.min(n - Math.min(fresh.length, n), n + limits.maxSurge - remaining));
  return { verdict: "rolling", add, retire };
}

/** What a rollout step reads and changes in the engine's table. */
export type RolloutContext = {
  /** The app slots not retired. */
  readonly active: readonly Slot[];
  readonly desired: number;
  /** The spec slots without one of their own run (the tier's current spec). */
  readonly app: AppSpec;
  readonly nowMs: number;
  readonly log: Logger;
  readonly metrics: SupervisorMetrics;
  slot(key: string): Slot | undefined;
  addSlot(spec: AppSpec): void;
  /** The rollout ended on this spec: it becomes the tier's spec. */
  finished(spec: AppSpec): void;
};

/** Applies one planned step to the table; true when something changed. */
export function stepRollout(r: Rollout, ctx: RolloutContext): boolean {
  const rolling = r.state === "rolling";
  const target = rolling ? r.to : r.from;
  const step = planRollout(
    ctx.desired,
    {
      maxSurge: r.maxSurge,
      maxUnavailable: r.maxUnavailable,
      // Rolling back never halts: the old spec is the way home.
      failuresMax: rolling ? rolloutFailuresMax : Number.POSITIVE_INFINITY,
    },
    ctx.active.map((s) => ({
      key: s.key,
      isNew: sameSpec(s.spec ?? ctx.app, target),
      ready: s.instance?.state === "ready",
      failures: s.failures,
    })),
  );
  if (step.verdict === "failed") {
    const slot = ctx.slot(step.slot);
    r.state = "rolling-back";
    r.reason = `${step.slot} failed ${slot?.failures} times: ${slot?.lastExit?.how ?? "not ready"}`;
    ctx.metrics.rollouts.inc({ outcome: "halted" });
    ctx.log.warn("rollout halted; rolling back", { id: r.id, reason: r.reason });
    return true;
  }
  if (step.verdict === "done") {
    r.state = rolling ? "done" : "rolled-back";
    r.endedAtMs = ctx.nowMs;
    ctx.finished(target);
    ctx.metrics.rollouts.inc({ outcome: r.state });
    ctx.log.info("rollout finished", { id: r.id, state: r.state, version: target.version });
    return true;
  }
  for (const key of step.retire) {
    const s = ctx.slot(key);
    if (s) s.retired = true;
  }
  for (let i = 0; i < step.add; i++) ctx.addSlot(target);
  return step.retire.length > 0 || step.add > 0;
}

export function rolloutView(r: Rollout, active: readonly Slot[], app: AppSpec, desired: number): RolloutView {
  const target = r.state === "rolling" || r.state === "done" ? r.to : r.from;
  const onTarget = active.filter((s) => sameSpec(s.spec ?? app, target));
  return {
    id: r.id,
    state: r.state,
    from: { entry: r.from.entry, version: r.from.version },
    to: { entry: r.to.entry, version: r.to.version },
    maxSurge: r.maxSurge,
    maxUnavailable: r.maxUnavailable,
    startedAtMs: r.startedAtMs,
    endedAtMs: r.endedAtMs,
    reason: r.reason,
    desired,
    updated: onTarget.filter((s) => s.instance?.state === "ready").length,
    old: active.length - onTarget.length,
  };
}
