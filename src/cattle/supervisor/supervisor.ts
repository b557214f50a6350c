// The per-site supervisor: keeps each tier at its desired count. A reconcile loop compares
// slots with desired counts and starts, drains or stops (lives.ts carries out each start and
// stop); each instance moves through starting → ready → (draining →) stopping, and a death
// moves its slot to back-off and then to a fresh start. A rollout (rollout.ts) moves the app
// slots from one spec to another. Clock, randomness, the OS, readiness probes, the drain
// gate and the state file are components, so the production wiring (run.ts) is the only
// place that touches the real ones.
import type { Clock, Logger, Random, Startable, TimerHandle } from "../../core/index.ts";
import type { Planet, Site } from "../../topology/index.ts";
import {
  controlApiVersion,
  parseCount,
  type RolloutView,
  type SiteStatus,
  type SunRequest,
  type SupervisorState,
  type TierRow,
} from "../control/api.ts";
import { controlErrors } from "../control/errors.ts";
import { reanchor, siteSun } from "../sun/policy.ts";
import type { DnsSteering } from "../sun/steering.ts";
import { planAdoption } from "./adopt.ts";
import { stableResetMs, tickMs } from "./constants.ts";
import type { DrainGate } from "./drain.ts";
import { type EvacuationView, SiteSteerer, type SunView } from "./evacuation.ts";
import { FaultKeeper, type FaultKeeperComponents } from "./faults.ts";
import type { ProcessHost } from "./host.ts";
import { InstanceLives } from "./lives.ts";
import type { SupervisorMetrics } from "./metrics.ts";
import type { Prober } from "./probes.ts";
import { type Rollout, rolloutView, sameSpec, stepRollout } from "./rollout.ts";
import { appSlotKey, isAppSlotKey, newSlot, rowOf, type Slot } from "./slots.ts";
import { type PersistedState, snapshot } from "./state-file.ts";
import {
  type AppSpec,
  plannedCount,
  siteTierPlans,
  type TierName,
  type TierPlan,
  tierMax,
  tierNames,
} from "./tiers.ts";

export type SupervisorOptions = {
  readonly planet: Planet;
  readonly site: Site;
  readonly planetFile: string;
  /** The supervisor's own directory (logs, state): `<dataDir>/supervisors/<site>/`. */
  readonly dir: string;
  readonly ownerTag: string;
  readonly nodeBin: string;
  /** The app to run when no saved state says otherwise. */
  readonly app: AppSpec;
  readonly address: string;
  readonly pid: number;
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly drainWaitMs?: number;
};

export type SupervisorComponents = {
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly host: ProcessHost;
  readonly probe: Prober;
  readonly drain: DrainGate;
  readonly metrics: SupervisorMetrics;
  readonly load: () => PersistedState | undefined;
  readonly save: (state: PersistedState) => void;
  /** The site's weight on the planet's DNS servers and what they answer (none: no DNS to steer). */
  readonly steering?: DnsSteering;
  /** Chaos faults held for the site (none: faults are refused). */
  readonly faults?: Omit<FaultKeeperComponents, "site" | "clock" | "log" | "metrics" | "host" | "slots" | "tick">;
};

export class Supervisor implements Startable {
  readonly #o: SupervisorOptions;
  readonly #c: SupervisorComponents;
  readonly #plans: Record<TierName, TierPlan>;
  readonly #slots = new Map<string, Slot>();
  readonly #desired = {} as Record<TierName, number>;
  readonly #booted = new Set<TierName>();
  readonly #exitWaiters = new Set<() => void>();
  readonly #lives: InstanceLives;
  readonly #steerer: SiteSteerer;
  readonly #faults: FaultKeeper | undefined;
  #app: AppSpec;
  #state: SupervisorState = "starting";
  #startedAtMs = 0;
  #adopted = 0;
  #timer: TimerHandle | undefined;
  #dirty = false;
  #stopAll: Promise<void> | undefined;
  #rollout: Rollout | undefined;

  constructor(options: SupervisorOptions, components: SupervisorComponents) {
    this.#o = options;
    this.#c = components;
    this.#plans = siteTierPlans(options.planet, options.site);
    this.#app = options.app;
    this.#lives = new InstanceLives({
      options,
      components,
      app: () => this.#app,
      active: () => this.#state === "running" || this.#state === "starting",
      freeAppAddress: () => this.#freeAppAddress(),
      freshAppId: () => this.#freshAppId(),
      gatewayTargets: () => this.#gatewayTargets(),
      changed: () => {
        this.#dirty = true;
      },
      persist: () => this.#persist(),
      tick: () => this.#tick(),
      exited: () => {
        for (const fn of this.#exitWaiters) fn();
      },
    });
    this.#steerer = new SiteSteerer({
      clock: components.clock,
      log: components.log,
      metrics: components.metrics,
      steering: components.steering,
      sun: siteSun(options.planet, options.site),
      desiredApps: () => this.#desired.app,
      appCounts: () => {
        const apps = this.#orderedSlots("app");
        return {
          ready: apps.filter((s) => this.#wanted(s) && s.instance?.state === "ready").length,
          running: apps.filter((s) => s.instance).length,
        };
      },
      changed: () => {
        this.#dirty = true;
      },
      tick: () => this.#tick(),
    });
    this.#faults = components.faults
      ? new FaultKeeper({
          ...components.faults,
          site: options.site.name,
          clock: components.clock,
          log: components.log,
          metrics: components.metrics,
          host: components.host,
          slots: () => [...this.#slots.values()],
          tick: () => {
            components.clock.setTimer(0, () => this.#tick());
          },
        })
      : undefined;
  }

  /** The site's chaos faults (held here until their TTL); undefined when this supervisor takes none. */
  get faults(): FaultKeeper | undefined {
    return this.#faults;
  }

  get state(): SupervisorState {
    return this.#state;
  }

  /** Loads the saved state, adopts the living instances, and starts reconciling. */
  async start(): Promise<void> {
    if (this.#state !== "starting") return;
    const { clock, log } = this.#c;
    this.#startedAtMs = clock.nowMs();
    const saved = this.#c.load();
    const fresh = !saved || saved.stopped;
    for (const tier of tierNames) {
      const planned = plannedCount(this.#o.site, tier, this.#plans);
      const want = fresh ? planned : (saved.desired[tier] ?? planned);
      this.#desired[tier] = Math.min(want, tierMax(this.#plans[tier]));
    }
    if (!fresh) {
      this.#steerer.restore(saved.evacuation);
      if (saved.sunClock) this.#steerer.setSunClock(saved.sunClock, "restored");
      this.#app = saved.app;
      this.#rollout = saved.rollout ? { ...saved.rollout } : undefined;
    }
    for (const plan of Object.values(this.#plans)) {
      if (plan.kind !== "slotted") continue;
      for (const node of plan.slots) this.#slots.set(node.id, newSlot(plan.tier, node.id, node.index, node));
    }
    for (const s of fresh ? [] : saved.slots) {
      const slot = this.#slots.get(s.key) ?? this.#appSlot(s.key, s.spec);
      if (!slot) continue;
      slot.restarts = s.restarts;
      slot.failures = s.failures;
      slot.retired = s.retired;
    }
    const plan = planAdoption(fresh ? [] : saved.instances, this.#c.host.scan(), (tier, key) =>
      tier === "app" ? isAppSlotKey(key) : this.#slots.get(key)?.tier === tier,
    );
    for (const f of plan.adopt) {
      const slot = this.#slots.get(f.slot) ?? this.#appSlot(f.slot);
      if (!slot) continue;
      this.#lives.adopt(slot, f);
      this.#adopted++;
    }
    for (const stray of plan.strays) this.#lives.stopStray(stray);
    for (const g of plan.gone) {
      const slot = this.#slots.get(g.slot);
      if (!slot) continue;
      slot.diedAtMono = clock.monoMs();
      slot.lastExit = {
        how: "gone while no supervisor ran",
        id: g.id,
        atMs: clock.nowMs(),
        wasReady: g.state === "ready",
      };
    }
    for (const [key, slot] of this.#slots) if (slot.retired && !slot.instance) this.#slots.delete(key);
    // Before the first tick: a site killed by chaos stays down until its TTL.
    this.#faults?.restore();
    this.#state = "running";
    this.#dirty = true;
    log.info("supervisor running", {
      adopted: this.#adopted,
      strays: plan.strays.length,
      gone: plan.gone.length,
      evacuation: this.#steerer.phase,
    });
    this.#tick();
    this.#steerer.start();
  }

  /** Stops reconciling and leaves every instance running (a restarted supervisor adopts them). */
  async stop(): Promise<void> {
    this.#faults?.stop();
    this.#steerer.stop();
    this.#timer?.cancel();
    this.#timer = undefined;
    for (const slot of this.#slots.values()) slot.instance?.unwatch();
    if (this.#state === "running") this.#persist();
    if (this.#state !== "stopped") this.#state = "stopped";
  }

  /** Stops every instance (apps, gateways and DNS first, store nodes last), then reconciling. */
  stopAll(): Promise<void> {
    this.#stopAll ??= this.#stopEverything();
    return this.#stopAll;
  }

  /** Sets a tier's desired count; the loop acts on it at once. */
  scale(tierName: TierName, count: unknown): TierRow {
    if (this.#state !== "running") throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", this.#state);
    const n = parseCount(count, "count", tierMax(this.#plans[tierName]));
    if (tierName === "app" && this.#steerer.sunNow()) {
      throw controlErrors.create(
        "RS_ERR_CATTLE_CONTROL_SUN_OWNS_APP",
        `${this.#o.site.name}: the planet's sun section sets the app count (peakInstances, minInstances)`,
      );
    }
    this.#c.log.info("scale", { tier: tierName, from: this.#desired[tierName], to: n });
    this.#desired[tierName] = n;
    this.#dirty = true;
    this.#tick();
    return this.#tierRow(tierName);
  }

  /**
   * Starts a rolling deploy of the app tier to a new spec (entry, version): never more than
   * N + maxSurge app instances, never fewer than N − maxUnavailable ready; a new instance
   * that fails twice halts it and rolls back to the old spec by the same rules.
   */
  deploy(to: AppSpec, limits: { maxSurge: number; maxUnavailable: number }): RolloutView {
    if (this.#state !== "running") throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", this.#state);
    const r = this.#rollout;
    if (r && (r.state === "rolling" || r.state === "rolling-back")) {
      throw controlErrors.create("RS_ERR_CATTLE_CONTROL_ROLLOUT_RUNNING", `${r.id}: ${r.state} to ${r.to.version}`);
    }
    const nowMs = this.#c.clock.nowMs();
    const same = sameSpec(this.#app, to);
    this.#rollout = {
      id: `rollout-${nowMs.toString(36)}`,
      state: same ? "done" : "rolling",
      from: this.#app,
      to,
      ...limits,
      startedAtMs: nowMs,
      endedAtMs: same ? nowMs : null,
      reason: null,
    };
    this.#c.log.info("deploy", { id: this.#rollout.id, from: this.#app.version, to: to.version, ...limits });
    this.#dirty = true;
    this.#tick();
    return this.#rolloutView() as RolloutView;
  }

  /** Steers users away from the site, then drains its app tier to 0 (idempotent); see evacuation.ts. */
  evacuate(): EvacuationView {
    if (this.#state !== "running") throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", this.#state);
    return this.#steerer.evacuate();
  }

  /** Brings the app tier back, then the users (idempotent). */
  restoreSite(): EvacuationView {
    if (this.#state !== "running") throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", this.#state);
    return this.#steerer.restoreSite();
  }

  /**
   * Sets the follow-the-sun clock's speed from an anchor (the caller computes one and sends it
   * to every site, so they agree), or without one from where this site's clock stands now.
   */
  setSunClock(r: SunRequest): SunView {
    if (this.#state !== "running") throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", this.#state);
    const current = this.#steerer.sunClock;
    if (!current) {
      throw controlErrors.create(
        "RS_ERR_CATTLE_CONTROL_NO_SUN",
        `${this.#o.site.name}: planet ${this.#o.planet.name} has no sun section`,
      );
    }
    const clock = r.anchor
      ? { clockSpeed: r.clockSpeed, anchorRealMs: r.anchor.realMs, anchorSimMs: r.anchor.simMs }
      : reanchor(current, this.#c.clock.nowMs(), r.clockSpeed);
    this.#steerer.setSunClock(clock);
    this.#persist();
    return this.#steerer.sunView() as SunView;
  }

  /** Every pid of ours alive now (what must be gone after stopAll). */
  pids(): number[] {
    return [...this.#slots.values()].flatMap((s) => (s.instance && s.instance.pid > 0 ? [s.instance.pid] : []));
  }

  status(): SiteStatus {
    const now = { mono: this.#c.clock.monoMs(), wall: this.#c.clock.nowMs() };
    const tiers = tierNames.map((t) => this.#tierRow(t));
    const rows = this.#orderedSlots()
      .filter((s) => s.instance || this.#wanted(s))
      .map((s) => rowOf(s, now));
    return {
      api: controlApiVersion,
      site: this.#o.site.name,
      planet: this.#o.planet.name,
      supervisor: {
        pid: this.#o.pid,
        address: this.#o.address,
        startedAtMs: this.#startedAtMs,
        state: this.#state,
        adopted: this.#adopted,
      },
      ready: this.#state === "running" && tiers.every((t) => t.ready === t.desired),
      app: { entry: this.#app.entry, version: this.#app.version },
      rollout: this.#rolloutView(),
      evacuation: this.#steerer.view(),
      sun: this.#steerer.sunView(),
      appDesired: this.#desired.app,
      faults: this.#faults?.list().active ?? [],
      tiers,
      instances: rows,
    };
  }

  // ---- the reconcile loop -------------------------------------------------------------

  #tick(): void {
    this.#timer?.cancel();
    if (this.#state !== "running") return;
    this.#steerer.latch();
    const now = this.#c.clock.monoMs();
    const r = this.#rollout;
    if (r && (r.state === "rolling" || r.state === "rolling-back")) this.#stepRollout(r);
    else this.#reconcileAppSlots();
    for (const tier of tierNames) {
      const mayBoot = tierNames.slice(0, tierNames.indexOf(tier)).every((t) => this.#booted.has(t));
      for (const slot of this.#orderedSlots(tier)) {
        const inst = slot.instance;
        const wanted = this.#wanted(slot);
        if (wanted && this.#faults?.holds(slot)) {
          if (inst) this.#lives.killForFault(inst);
          continue;
        }
        if (!inst) {
          if (slot.retired) this.#slots.delete(slot.key);
          else if (wanted && now >= slot.nextStartMono && (mayBoot || this.#booted.has(tier))) this.#lives.start(slot);
          continue;
        }
        if (!wanted && !inst.stopReason) this.#lives.beginStop(inst, "scale-down");
        else if (
          inst.state === "starting" &&
          !inst.stopReason &&
          !this.#faults?.pauses(slot) &&
          now - inst.sinceMono > this.#lives.readyTimeoutMs()
        ) {
          this.#lives.readyTimedOut(inst);
        } else if (inst.state === "ready" && slot.failures > 0 && now - (inst.readySinceMono ?? now) >= stableResetMs) {
          slot.failures = 0;
          slot.backoffMs = 0;
          this.#dirty = true;
        }
      }
      if (!this.#booted.has(tier) && this.#tierSettled(tier)) this.#booted.add(tier);
    }
    // After the slots: a kill with TTL 0 has killed before it ends.
    this.#faults?.expire();
    if (this.#dirty) this.#persist();
    this.#timer = this.#c.clock.setTimer(tickMs, () => this.#tick());
  }

  /** At boot a tier waits for the ones before it: settled = each wanted slot ready or already failed once. */
  #tierSettled(tier: TierName): boolean {
    return this.#orderedSlots(tier)
      .filter((s) => this.#wanted(s) && !this.#faults?.holds(s))
      .every((s) => s.instance?.state === "ready" || s.failures > 0);
  }

  #wanted(slot: Slot): boolean {
    if (slot.tier === "app") return !slot.retired;
    return slot.index <= this.#desired[slot.tier];
  }

  /** App slots follow the desired count: new ones are added, surplus ones retired (drained). */
  #reconcileAppSlots(): void {
    const active = this.#orderedSlots("app").filter((s) => !s.retired);
    const want = this.#steerer.appTarget();
    for (let k = 1; active.length < want; k++) {
      if (this.#slots.has(appSlotKey(k))) continue;
      const slot = newSlot("app", appSlotKey(k), k, undefined, this.#app);
      this.#slots.set(slot.key, slot);
      active.push(slot);
      this.#dirty = true;
    }
    if (active.length <= want) return;
    // Retire what serves least first: empty or backing-off slots, then starting, then the youngest ready.
    const rank = (s: Slot): number => (!s.instance ? 0 : s.instance.state === "starting" ? 1 : 2);
    const victims = [...active]
      .sort((a, b) => rank(a) - rank(b) || (b.instance?.startedAtMs ?? 0) - (a.instance?.startedAtMs ?? 0))
      .slice(0, active.length - want);
    for (const v of victims) v.retired = true;
    this.#dirty = true;
  }

  async #stopEverything(): Promise<void> {
    if (this.#state === "starting") await this.start();
    // Paused processes could not take their SIGTERM: every fault is reverted first.
    await this.#faults?.heal("*");
    this.#faults?.stop();
    this.#state = "stopping";
    this.#steerer.stop();
    this.#timer?.cancel();
    this.#c.log.info("stopping every instance");
    for (const group of [["app", "gateway", "dns"], ["store"], ["wan"]] as const) {
      const mine = () => [...this.#slots.values()].filter((s) => s.instance && group.includes(s.tier as never));
      for (const s of mine()) if (s.instance) this.#lives.beginStop(s.instance, "stop-all");
      // Drains in progress are cut short: everything goes.
      for (const s of mine()) if (s.instance && s.instance.state === "draining") this.#lives.terminate(s.instance);
      await this.#until(() => mine().length === 0);
    }
    this.#state = "stopped";
    this.#persist(true);
    this.#c.log.info("every instance stopped");
  }

  /** One step of the rollout: add new-spec slots, retire old ones, halt and roll back on failure. */
  #stepRollout(r: Rollout): void {
    const changed = stepRollout(r, {
      active: this.#orderedSlots("app").filter((s) => !s.retired),
      desired: this.#steerer.appTarget(),
      app: this.#app,
      nowMs: this.#c.clock.nowMs(),
      log: this.#c.log,
      metrics: this.#c.metrics,
      slot: (key) => this.#slots.get(key),
      addSlot: (spec) => {
        for (let k = 1; ; k++) {
          if (this.#slots.has(appSlotKey(k))) continue;
          this.#slots.set(appSlotKey(k), newSlot("app", appSlotKey(k), k, undefined, spec));
          return;
        }
      },
      finished: (spec) => {
        this.#app = spec;
      },
    });
    if (changed) this.#dirty = true;
  }

  #rolloutView(): RolloutView | null {
    if (!this.#rollout) return null;
    const active = this.#orderedSlots("app").filter((s) => !s.retired);
    return rolloutView(this.#rollout, active, this.#app, this.#steerer.appTarget());
  }

  // ---- helpers ------------------------------------------------------------------------

  #until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return;
        this.#exitWaiters.delete(check);
        resolve();
      };
      this.#exitWaiters.add(check);
      check();
    });
  }

  #orderedSlots(tier?: TierName): Slot[] {
    return [...this.#slots.values()]
      .filter((s) => tier === undefined || s.tier === tier)
      .sort((a, b) => tierNames.indexOf(a.tier) - tierNames.indexOf(b.tier) || a.index - b.index);
  }

  /** The app slot of a key like app#3 (created when missing), or undefined for another shape. */
  #appSlot(key: string, spec?: AppSpec): Slot | undefined {
    const existing = this.#slots.get(key);
    if (existing) return existing.tier === "app" ? existing : undefined;
    if (!isAppSlotKey(key)) return undefined;
    const slot = newSlot("app", key, Number(key.slice(4)), undefined, spec);
    this.#slots.set(key, slot);
    return slot;
  }

  #freeAppAddress(): { host: string; port: number } | undefined {
    const plan = this.#plans.app;
    if (plan.kind !== "pool") return undefined;
    const held = new Set(this.#orderedSlots("app").flatMap((s) => (s.instance ? [s.instance.host] : [])));
    const host = plan.addresses.find((a) => !held.has(a));
    return host ? { host, port: plan.port } : undefined;
  }

  #freshAppId(): string {
    const ids = new Set(this.#orderedSlots("app").flatMap((s) => (s.instance ? [s.instance.id] : [])));
    for (;;) {
      const id = `${this.#o.site.name}-app-${this.#c.random.int(0x100_0000).toString(16).padStart(6, "0")}`;
      if (!ids.has(id)) return id;
    }
  }

  #gatewayTargets(): { id: string; host: string; port: number }[] {
    return this.#orderedSlots("gateway").flatMap((s) =>
      s.instance ? [{ id: s.instance.id, host: s.instance.host, port: s.instance.port }] : [],
    );
  }

  #tierRow(tier: TierName): TierRow {
    const slots = this.#orderedSlots(tier);
    return {
      tier,
      desired: tier === "app" ? this.#steerer.appTarget() : this.#desired[tier],
      ready: slots.filter((s) => this.#wanted(s) && s.instance?.state === "ready").length,
      running: slots.filter((s) => s.instance).length,
      max: tierMax(this.#plans[tier]),
    };
  }

  #persist(stopped = false): void {
    const state = snapshot({
      site: this.#o.site.name,
      stopped,
      savedAtMs: this.#c.clock.nowMs(),
      desired: this.#desired,
      app: this.#app,
      rollout: this.#rollout,
      evacuation: this.#steerer.saved(),
      sunClock: this.#steerer.savedSunClock,
      slots: [...this.#slots.values()],
    });
    try {
      this.#c.save(state);
      this.#dirty = false;
    } catch (err) {
      this.#c.metrics.persistFailures.inc();
      this.#c.log.error("state file write failed", { err });
    }
  }
}
