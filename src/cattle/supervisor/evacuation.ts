// Evacuation and follow-the-sun, the supervisor's half: a loop that keeps its site's DNS
// weight where the site's phase wants it, and moves the phase on once the DNS servers show
// what the last step asked for. Its counts go to the reconcile loop as the app tier's
// target; the phase is persisted with the rest of the state, so a restarted supervisor
// carries on (an evacuated site stays evacuated).
//
//   serving ──evacuate──► evacuating: weight 0 on every DNS server; once no answering
//                         server lists the site, the app tier drains to 0
//           ◄─────────── evacuated: app tier 0, weight 0 (asserted again and again: a
//      │                 restarted DNS server learns it back); the store keeps replicating
//   serving ◄── restoring: app tier back to its count, weight held at 0 until every
//                          instance is ready; then the weight is restored, and once the
//                          DNS servers list the site again it is serving
import type { Clock, Logger, TimerHandle } from "../../core/index.ts";
import {
  clockSimMs,
  planetSunClock,
  type SiteSun,
  type SunClock,
  type SunDecision,
  sunDecision,
  sunWeightMax,
  weightFor,
} from "../sun/policy.ts";
import type { AnswerCheck, DnsSteering, WeightCheck } from "../sun/steering.ts";
import type { SupervisorMetrics } from "./metrics.ts";

export const evacuationPhases = ["serving", "evacuating", "evacuated", "restoring"] as const;
export type EvacuationPhase = (typeof evacuationPhases)[number];

/** The steering loop's period (weights are read and written at most this often). */
export const steerIntervalMs = 500;

export type EvacuationView = {
  readonly phase: EvacuationPhase;
  readonly sinceMs: number;
  /** Evacuating: every answering DNS server stopped listing the site (the app tier may drain). */
  readonly dnsClear: boolean;
  /** The weight this supervisor keeps on the DNS servers (null: it leaves the weight alone). */
  readonly weight: number | null;
  /** The last weight check: how many DNS servers hold it. */
  readonly weightCheck: WeightCheck | null;
  /** The last answer check: how many answering DNS servers list the site. */
  readonly answers: AnswerCheck | null;
};

export type SunView = SunDecision & {
  readonly peakInstances: number;
  readonly minInstances: number;
  readonly clockSpeed: number;
  /** The clock's anchor (simulated = anchorSimMs + (real − anchorRealMs) × clockSpeed). */
  readonly anchorRealMs: number;
  readonly anchorSimMs: number;
  /** The simulated UTC time of the decision. */
  readonly simUtcMs: number;
};

export type SavedEvacuation = { phase: EvacuationPhase; sinceMs: number; dnsClear?: boolean };

export type SteererHost = {
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: SupervisorMetrics;
  readonly steering: DnsSteering | undefined;
  readonly sun: SiteSun | undefined;
  /** The operator's desired app count (what a site without the sun runs, and restore returns to). */
  readonly desiredApps: () => number;
  /** App instances ready and wanted, and alive in any state. */
  readonly appCounts: () => { readonly ready: number; readonly running: number };
  readonly changed: () => void;
  readonly tick: () => void;
};

export class SiteSteerer {
  readonly #h: SteererHost;
  #phase: EvacuationPhase = "serving";
  #sinceMs = 0;
  #dnsClear = false;
  #weightCheck: WeightCheck | null = null;
  #answers: AnswerCheck | null = null;
  #timer: TimerHandle | undefined;
  #busy = false;
  #running = false;
  #decision: SunDecision | undefined;
  #decidedAtMs = 0;
  /** The follow-the-sun clock: the planet file's until an operator sets a speed (PUT /v1/sun). */
  #clock: SunClock | undefined;
  /** Whether the clock was set at run time (only then is it saved: else the planet file's rules). */
  #clockSet = false;

  constructor(host: SteererHost) {
    this.#h = host;
    this.#clock = host.sun ? planetSunClock(host.sun) : undefined;
  }

  /** The sun clock now (undefined when the planet does not follow the sun). */
  get sunClock(): SunClock | undefined {
    return this.#clock;
  }

  /** The clock to save: the one set at run time, or undefined (the planet file's). */
  get savedSunClock(): SunClock | undefined {
    return this.#clockSet ? this.#clock : undefined;
  }

  /** Takes a clock (set at run time, or saved by an earlier supervisor); false without a sun. */
  setSunClock(clock: SunClock, how: "set" | "restored" = "set"): boolean {
    if (!this.#h.sun) return false;
    const before = this.#clock;
    this.#clock = clock;
    this.#clockSet = true;
    this.#h.log.info(how === "set" ? "the sun clock changes" : "the sun clock saved earlier", {
      from: before?.clockSpeed,
      ...clock,
    });
    // Decided again now (a count the new clock moves is counted and logged like any other).
    this.latch();
    this.#h.changed();
    this.#h.tick();
    return true;
  }

  get phase(): EvacuationPhase {
    return this.#phase;
  }

  /** Takes the phase the state file saved (a restart keeps an evacuated site evacuated). */
  restore(saved: SavedEvacuation | undefined): void {
    if (!saved) return;
    this.#phase = saved.phase;
    this.#sinceMs = saved.sinceMs;
    // A supervisor restarted mid-evacuation must not start the apps it already drained.
    this.#dnsClear = saved.dnsClear ?? false;
  }

  saved(): SavedEvacuation {
    return { phase: this.#phase, sinceMs: this.#sinceMs, dnsClear: this.#dnsClear };
  }

  start(): void {
    this.#running = true;
    this.#arm(0);
  }

  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Starts an evacuation; idempotent (evacuating or evacuated already: nothing changes). */
  evacuate(): EvacuationView {
    if (this.#phase === "serving" || this.#phase === "restoring") this.#enter("evacuating");
    this.#arm(0);
    return this.view();
  }

  /** Starts bringing the site back; idempotent (serving or restoring already: nothing changes). */
  restoreSite(): EvacuationView {
    if (this.#phase === "evacuating" || this.#phase === "evacuated") this.#enter("restoring");
    this.#arm(0);
    return this.view();
  }

  /**
   * Takes the sun's decision for this moment; the reconcile loop calls it once per tick, so
   * everything read until the next tick (the count, the status, the weight) is one decision.
   */
  latch(): void {
    const s = this.#h.sun;
    if (!s) return;
    const nowMs = this.#h.clock.nowMs();
    const d = sunDecision(s, nowMs, this.#clock);
    this.#decidedAtMs = nowMs;
    if (this.#decision && d.instances !== this.#decision.instances) {
      this.#h.metrics.sunChanges.inc();
      this.#h.log.info("the sun moves the app tier", {
        from: this.#decision.instances,
        to: d.instances,
        localHour: Number(d.localHour.toFixed(2)),
      });
    }
    this.#decision = d;
  }

  /** The sun's latched decision, or undefined when the planet does not follow the sun. */
  sunNow(): SunDecision | undefined {
    if (this.#h.sun && !this.#decision) this.latch();
    return this.#decision;
  }

  sunView(): SunView | null {
    const s = this.#h.sun;
    const d = this.sunNow();
    const c = this.#clock;
    if (!s || !d || !c) return null;
    return {
      ...d,
      peakInstances: s.peakInstances,
      minInstances: s.minInstances,
      clockSpeed: c.clockSpeed,
      anchorRealMs: c.anchorRealMs,
      anchorSimMs: c.anchorSimMs,
      simUtcMs: clockSimMs(c, this.#decidedAtMs),
    };
  }

  /** What the app tier runs when serving: the sun's count, or the operator's. */
  baseApps(): number {
    const d = this.sunNow();
    return d ? d.instances : this.#h.desiredApps();
  }

  /** The app count the reconcile loop keeps now. */
  appTarget(): number {
    if (this.#phase === "evacuated") return 0;
    if (this.#phase === "evacuating" && this.#dnsClear) return 0;
    return this.baseApps();
  }

  view(): EvacuationView {
    return {
      phase: this.#phase,
      sinceMs: this.#sinceMs,
      dnsClear: this.#dnsClear,
      weight: this.#wantedWeight(),
      weightCheck: this.#weightCheck,
      answers: this.#answers,
    };
  }

  /** The weight to keep on the DNS servers now; null when the site leaves it to the operator. */
  #wantedWeight(): number | null {
    switch (this.#phase) {
      case "evacuating":
      case "evacuated":
        return 0;
      case "restoring":
        return this.#appsSettled() ? this.#servingWeight() : 0;
      case "serving":
        return this.#h.sun ? this.#servingWeight() : null;
    }
  }

  /** Serving: with the sun, the capacity ready now (never above the target); else full weight. */
  #servingWeight(): number {
    const s = this.#h.sun;
    if (!s) return sunWeightMax;
    const { ready } = this.#h.appCounts();
    return weightFor(Math.min(ready, this.appTarget()), s.peakInstances);
  }

  #appsSettled(): boolean {
    const { ready, running } = this.#h.appCounts();
    const target = this.appTarget();
    return ready >= target && running === target;
  }

  #enter(phase: EvacuationPhase): void {
    this.#h.log.info("evacuation phase", { from: this.#phase, to: phase });
    this.#h.metrics.evacuationPhases.inc({ phase });
    this.#phase = phase;
    this.#sinceMs = this.#h.clock.nowMs();
    this.#dnsClear = false;
    this.#answers = null;
    this.#weightCheck = null;
    this.#h.changed();
    this.#h.tick();
  }

  #arm(delayMs: number): void {
    this.#timer?.cancel();
    // A round that was in flight when the supervisor stopped must not start the loop again.
    if (!this.#running) return;
    this.#timer = this.#h.clock.setTimer(delayMs, () => {
      void this.#round().finally(() => this.#arm(steerIntervalMs));
    });
  }

  async #round(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const phase = this.#phase;
      const weight = this.#wantedWeight();
      const steering = this.#h.steering;
      const noDns = { confirmed: 0, total: 0 };
      if (weight !== null) this.#weightCheck = steering ? await steering.ensureWeight(weight) : noDns;
      const needAnswers = phase === "evacuating" || (phase === "restoring" && this.#appsSettled());
      if (!needAnswers || this.#phase !== phase) return;
      const a = steering ? await steering.checkAnswers() : { listing: 0, answered: 0, total: 0 };
      if (this.#phase !== phase) return;
      this.#answers = a;
      const anyAnswered = a.answered > 0 || a.total === 0;
      if (phase === "evacuating") {
        // Users are steered away once no DNS server that answers lists the site. A server that
        // does not answer steers nobody; at least one must answer (or the planet has none).
        if (!this.#dnsClear && anyAnswered && a.listing === 0) {
          this.#dnsClear = true;
          this.#h.log.info("dns answers no longer list the site; draining the app tier", { ...a });
          this.#h.changed();
          this.#h.tick();
        }
        if (this.#dnsClear && this.#h.appCounts().running === 0) this.#enter("evacuated");
      } else if (anyAnswered && a.listing === a.answered && this.#weightCheck?.confirmed === this.#weightCheck?.total) {
        this.#enter("serving");
      }
    } finally {
      this.#busy = false;
    }
  }
}
