// One instance's life, from spawn to exit: start it detached in its slot, probe it until
// ready, see it die (our child's exit, or an adopted pid's polling), count a failure and
// set the slot's back-off, or stop it when asked — an app drained out of every gateway's
// rotation first, then SIGTERM, SIGKILL after the tier's grace. The engine (supervisor.ts)
// decides *what* should run; this file carries out each start and stop.
import { join } from "node:path";
import type { Found } from "./adopt.ts";
import { backoffDelayMs } from "./backoff.ts";
import {
  drainPollMs,
  drainWaitMsMax,
  probeIntervalMs,
  readyTimeoutMsDefault,
  stableResetMs,
  stopGraceMsByTier,
} from "./constants.ts";
import type { ProcessHost } from "./host.ts";
import { describeExit, type ExitInfo, type OwnedProcess } from "./processes.ts";
import { type Instance, type Slot, type StopReason, slotLogName } from "./slots.ts";
import type { InstanceState } from "./state-file.ts";
import type { SupervisorComponents, SupervisorOptions } from "./supervisor.ts";
import { type AppSpec, type LaunchContext, launchSpec, repoRoot } from "./tiers.ts";

/** What a life needs from the engine that owns the slots. */
export interface LifeHost {
  readonly options: SupervisorOptions;
  readonly components: SupervisorComponents;
  app(): AppSpec;
  /** The engine is starting or running (probes go on; after a stop they end). */
  active(): boolean;
  freeAppAddress(): { host: string; port: number } | undefined;
  freshAppId(): string;
  gatewayTargets(): { id: string; host: string; port: number }[];
  /** Something in the table changed (the state file is rewritten at the end of the tick). */
  changed(): void;
  /** Write the state file now. */
  persist(): void;
  /** Run the reconcile loop now. */
  tick(): void;
  /** An instance exited (wakes whoever waits for a set of exits). */
  exited(): void;
}

export class InstanceLives {
  readonly #h: LifeHost;

  constructor(host: LifeHost) {
    this.#h = host;
  }

  /** Takes over a living instance a previous supervisor started: watched by polling its pid. */
  adopt(slot: Slot, f: Found): void {
    const { clock, host, metrics, log } = this.#h.components;
    // Probed again before it counts as ready: adoption trusts the pid, not the old state.
    const stopping = f.state === "draining" || f.state === "stopping";
    const inst = this.track(slot, {
      ...f,
      state: stopping ? "ready" : "starting",
      startedAtMs: f.startedAtMs ?? clock.nowMs(),
      adopted: true,
    });
    const w = host.watch(f.pid, { id: f.id, startTicks: f.startTicks });
    inst.unwatch = w.cancel;
    void w.exited.then((info) => this.onExit(inst, info));
    metrics.adopted.inc({ tier: f.tier });
    log.info("adopted", { id: f.id, slot: f.slot, pid: f.pid, state: f.state });
    if (stopping) this.beginStop(inst, "scale-down");
    else void this.probeUntilReady(inst);
  }

  /** An instance that was not ready in time: killed at once, counted as a failed start. */
  readyTimedOut(inst: Instance): void {
    this.#h.components.metrics.readyTimeouts.inc({ tier: inst.tier });
    inst.stopReason = "ready-timeout";
    this.#setState(inst, "stopping");
    this.#signal(inst, "SIGKILL");
  }

  /** SIGKILL for a chaos fault: the slot is held down by the fault, and its death is no failure. */
  killForFault(inst: Instance): void {
    if (inst.stopReason === "fault") return;
    inst.killTimer?.cancel();
    inst.stopReason = "fault";
    this.#setState(inst, "stopping");
    this.#h.components.metrics.faultKills.inc({ tier: inst.tier });
    this.#signal(inst, "SIGKILL");
  }

  readyTimeoutMs(): number {
    return this.#readyTimeoutMs();
  }

  start(slot: Slot): void {
    const { clock, log, metrics } = this.#h.components;
    const address = slot.node ? { host: slot.node.host, port: slot.node.port } : this.#h.freeAppAddress();
    if (!address) return; // every pool address is held (some still draining): next tick
    const id = slot.node ? slot.node.id : this.#h.freshAppId();
    const ctx: LaunchContext = {
      planetFile: this.#h.options.planetFile,
      site: this.#h.options.site.name,
      ownerTag: this.#h.options.ownerTag,
      app: slot.spec ?? this.#h.app(),
      nodeBin: this.#h.options.nodeBin,
    };
    const spec = launchSpec(ctx, { tier: slot.tier, slot: slot.key, id, ...address, index: slot.index });
    const logFile = join(this.#h.options.dir, "logs", slotLogName(slot.key));
    let spawned: ReturnType<ProcessHost["spawn"]>;
    try {
      spawned = this.#h.components.host.spawn({
        command: spec.command,
        args: spec.args,
        env: { ...process.env, ...spec.env },
        cwd: repoRoot,
        logFile,
        header: JSON.stringify({ t: new Date(clock.nowMs()).toISOString(), event: "start", id, slot: slot.key }),
      });
    } catch (err) {
      metrics.spawnFailures.inc({ tier: slot.tier });
      log.error("cannot start", { id, slot: slot.key, err });
      this.#failed(slot, `could not start: ${(err as Error).message}`, false, undefined);
      return;
    }
    if (slot.diedAtMono !== undefined) slot.restarts++;
    const inst = this.track(slot, {
      ...spec,
      pid: spawned.pid,
      startTicks: spawned.startTicks,
      startedAtMs: clock.nowMs(),
      state: "starting",
      adopted: false,
    });
    metrics.starts.inc({ tier: slot.tier });
    log.info("started", { id, slot: slot.key, pid: spawned.pid, address: `${address.host}:${address.port}` });
    this.#h.persist(); // the pid is on disk before anything else can happen
    void spawned.exited.then((info) => this.onExit(inst, info));
    void this.probeUntilReady(inst);
  }

  track(
    slot: Slot,
    f: {
      id: string;
      host: string;
      port: number;
      version: string;
      pid: number;
      startTicks: number | undefined;
      startedAtMs: number;
      state: InstanceState;
      adopted: boolean;
    },
  ): Instance {
    const inst: Instance = {
      id: f.id,
      tier: slot.tier,
      slot,
      host: f.host,
      port: f.port,
      version: f.version,
      pid: f.pid,
      startTicks: f.startTicks,
      startedAtMs: f.startedAtMs,
      adopted: f.adopted,
      logFile: join(this.#h.options.dir, "logs", slotLogName(slot.key)),
      state: f.state,
      sinceMono: this.#h.components.clock.monoMs(),
      readySinceMono: undefined,
      stopReason: undefined,
      killTimer: undefined,
      unwatch: () => {},
    };
    slot.instance = inst;
    this.#h.changed();
    return inst;
  }

  async probeUntilReady(inst: Instance): Promise<void> {
    const current = () => inst.slot.instance === inst && inst.state === "starting" && !inst.stopReason;
    while (current() && this.#h.active()) {
      const ok = await this.#h.components.probe({ tier: inst.tier, host: inst.host, port: inst.port });
      if (!current()) return;
      if (ok) return this.#onReady(inst);
      await this.#sleep(probeIntervalMs);
    }
  }

  #onReady(inst: Instance): void {
    const { clock, log, metrics } = this.#h.components;
    const slot = inst.slot;
    this.#setState(inst, "ready");
    inst.readySinceMono = clock.monoMs();
    metrics.ready.inc({ tier: inst.tier });
    if (slot.diedAtMono !== undefined) {
      slot.lastReplaceMs = clock.monoMs() - slot.diedAtMono;
      metrics.replaceMs.observe(slot.lastReplaceMs, { tier: inst.tier });
      slot.diedAtMono = undefined;
    }
    log.info("ready", { id: inst.id, slot: slot.key, pid: inst.pid, replaceMs: slot.lastReplaceMs });
    this.#h.tick();
  }

  onExit(inst: Instance, info: ExitInfo): void {
    const slot = inst.slot;
    if (slot.instance !== inst) return;
    inst.unwatch();
    inst.killTimer?.cancel();
    slot.instance = undefined;
    this.#h.changed();
    const reason = inst.stopReason;
    if (reason === "scale-down" && inst.tier === "app") void this.#h.components.drain.unmark(inst.id);
    if (reason === "scale-down" || reason === "stop-all") {
      this.#h.components.log.info("stopped", { id: inst.id, slot: slot.key, how: describeExit(info) });
    } else if (reason === "fault") {
      const now = this.#h.components.clock.monoMs();
      slot.diedAtMono = now;
      slot.nextStartMono = now;
      slot.lastExit = {
        how: "killed by a chaos fault",
        id: inst.id,
        atMs: this.#h.components.clock.nowMs(),
        wasReady: inst.readySinceMono !== undefined,
      };
      this.#h.components.log.warn("killed by a chaos fault", { id: inst.id, slot: slot.key, how: describeExit(info) });
    } else {
      const how = reason === "ready-timeout" ? `not ready within ${this.#readyTimeoutMs()} ms` : describeExit(info);
      this.#h.components.metrics.deaths.inc({ tier: inst.tier, ready: String(inst.readySinceMono !== undefined) });
      this.#h.components.log.warn("instance died", { id: inst.id, slot: slot.key, pid: inst.pid, how });
      this.#failed(slot, how, inst.readySinceMono !== undefined, inst);
    }
    this.#h.exited();
    this.#h.tick();
  }

  /** A run ended badly: count it and set the back-off before the slot starts again. */
  #failed(slot: Slot, how: string, wasReady: boolean, inst: Instance | undefined): void {
    const now = this.#h.components.clock.monoMs();
    const stable = inst?.readySinceMono !== undefined && now - inst.readySinceMono >= stableResetMs;
    if (stable) slot.failures = 0;
    slot.failures++;
    slot.backoffMs = backoffDelayMs(slot.failures);
    slot.nextStartMono = now + slot.backoffMs;
    slot.diedAtMono = now;
    slot.lastExit = {
      how,
      id: inst?.id ?? null,
      atMs: this.#h.components.clock.nowMs(),
      wasReady,
      ...(!wasReady && inst ? { output: lastRunOutput(this.#h.components.host.tail(inst.logFile)) } : {}),
    };
    this.#h.changed();
  }

  beginStop(inst: Instance, reason: StopReason): void {
    if (inst.stopReason) return;
    inst.stopReason = reason;
    if (reason === "scale-down" && inst.tier === "app" && inst.state === "ready") {
      this.#setState(inst, "draining");
      void this.#drainThenTerminate(inst);
    } else this.terminate(inst);
  }

  /** Out of every gateway's rotation with nothing in flight (bounded wait), then SIGTERM. */
  async #drainThenTerminate(inst: Instance): Promise<void> {
    const { clock, drain, metrics, log } = this.#h.components;
    await drain.mark(inst.id);
    const startMs = clock.monoMs();
    const deadline = startMs + (this.#h.options.drainWaitMs ?? drainWaitMsMax);
    let how: "confirmed" | "unconfirmed" | "timeout" = "timeout";
    let verdicts: Readonly<Record<string, string>> = {};
    while (inst.slot.instance === inst && clock.monoMs() < deadline) {
      const check = await drain.check(inst.id, this.#h.gatewayTargets());
      verdicts = check.verdicts;
      const noView = Object.values(check.verdicts).filter((v) => v === "no-view").length;
      if (noView > 0) metrics.drainNoView.inc({}, noView);
      if (check.done) {
        how = noView > 0 ? "unconfirmed" : "confirmed";
        break;
      }
      await this.#sleep(drainPollMs);
    }
    if (inst.slot.instance !== inst || inst.state !== "draining") return;
    metrics.drains.inc({ how });
    metrics.drainMs.observe(clock.monoMs() - startMs);
    log.info("drained", { id: inst.id, how, ms: Math.round(clock.monoMs() - startMs), gateways: verdicts });
    this.terminate(inst);
  }

  terminate(inst: Instance): void {
    inst.killTimer?.cancel();
    this.#setState(inst, "stopping");
    // When the whole site stops, a gateway need not wait for DNS to drop it (SIGINT skips that wait).
    const signal = inst.stopReason === "stop-all" && inst.tier === "gateway" ? "SIGINT" : "SIGTERM";
    this.#signal(inst, signal);
    inst.killTimer = this.#h.components.clock.setTimer(
      this.#h.options.stopGraceMs ?? stopGraceMsByTier[inst.tier],
      () => {
        if (inst.slot.instance !== inst) return;
        this.#h.components.metrics.killsAfterGrace.inc({ tier: inst.tier });
        this.#h.components.log.warn("no exit after SIGTERM: SIGKILL", { id: inst.id, pid: inst.pid });
        this.#signal(inst, "SIGKILL");
      },
    );
  }

  /** A process of ours that no slot wants (a duplicate): SIGTERM, SIGKILL after the grace. */
  stopStray(p: OwnedProcess): void {
    const id = { id: p.env.get("REDSHIRT_INSTANCE_ID") ?? "", startTicks: p.startTicks };
    this.#h.components.metrics.duplicates.inc();
    this.#h.components.log.warn("stopping a process no slot wants", { pid: p.pid, id: id.id });
    this.#h.components.host.signal(p.pid, id, "SIGTERM");
    this.#h.components.clock.setTimer(this.#h.options.stopGraceMs ?? stopGraceMsByTier.app, () => {
      this.#h.components.host.signal(p.pid, id, "SIGKILL");
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#h.components.clock.setTimer(ms, resolve));
  }

  #setState(inst: Instance, state: InstanceState): void {
    inst.state = state;
    inst.sinceMono = this.#h.components.clock.monoMs();
    this.#h.changed();
  }

  #signal(inst: Instance, signal: NodeJS.Signals): void {
    this.#h.components.host.signal(inst.pid, { id: inst.id, startTicks: inst.startTicks }, signal);
  }

  #readyTimeoutMs(): number {
    return this.#h.options.readyTimeoutMs ?? readyTimeoutMsDefault;
  }
}

/** The part of a slot's log written by its last run (each start writes a header line). */
function lastRunOutput(tail: string): string {
  const at = tail.lastIndexOf('"event":"start"');
  return at < 0 ? tail : tail.slice(tail.indexOf("\n", at) + 1);
}
