// The faults a supervisor holds for its site (chaos): it applies each one, saves it in
// `faults.json` beside its state file, and reverts it at its time-to-live — a forgotten
// fault is what users of chaos tools complain about most, so the revert lives here, in the
// long-lived party, never in the CLI that asked. A supervisor that was SIGKILLed and started
// again reads the file first: it reverts what expired while it was gone and keeps holding
// the rest (a killed site stays down until its TTL even though the supervisor normally
// restarts every instance). Expiry is on the wall clock, the only clock that survives a restart.
//
//   kill-instance, kill-tier, kill-site  SIGKILL, and hold the slots down until the TTL
//   pause                                SIGSTOP the instance's process group; SIGCONT at the TTL
//   clock-skew                           the store node's wall clock offset (the node holds the TTL too)
//   empty-disk                           SIGKILL a store node, delete its data file, hold it down; at
//                                        the TTL it starts again under its id on an empty disk and is
//                                        refilled from its peers as a new incarnation (docs/store.md)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { type Clock, type Logger, type TimerHandle, writeFileAtomic } from "../../core/index.ts";
import { controlErrors } from "../control/errors.ts";
import {
  activeFaultsPerSiteMax,
  endedFaultsKeptMax,
  type FaultRequest,
  type FaultView,
  siteFaultKinds,
} from "../control/fault-api.ts";
import type { Identity, ProcessHost } from "./host.ts";
import type { SupervisorMetrics } from "./metrics.ts";
import type { Slot } from "./slots.ts";
import { type TierName, tierNames } from "./tiers.ts";

const faultSchema = z.object({
  id: z.string(),
  kind: z.enum(siteFaultKinds),
  tier: z.enum(tierNames).nullable(),
  slot: z.string().nullable(),
  instance: z.string().nullable(),
  offsetMs: z.number().nullable(),
  ttlMs: z.number(),
  startedAtMs: z.number(),
  expiresAtMs: z.number(),
  endedAtMs: z.number().nullable(),
  reason: z.enum(["healed", "ttl"]).nullable(),
  /** pause: the process it stopped (SIGCONT goes to this one only, checked by identity). */
  pid: z.number().nullable(),
  startTicks: z.number().nullable(),
  /** empty-disk: the data file is gone. */
  wiped: z.boolean(),
});
type HeldFault = z.infer<typeof faultSchema>;
const fileSchema = z.object({
  format: z.literal(1),
  active: z.array(faultSchema).max(activeFaultsPerSiteMax),
  ended: z.array(faultSchema).max(endedFaultsKeptMax),
});

export function faultsFilePath(dir: string): string {
  return join(dir, "faults.json");
}

/** The saved faults, or none; a file that cannot be read is an operating error (logged by the caller). */
export function loadFaults(file: string): { active: HeldFault[]; ended: HeldFault[] } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { active: [], ended: [] };
    throw err;
  }
  const f = fileSchema.parse(JSON.parse(text));
  return { active: f.active, ended: f.ended };
}

export type FaultKeeperComponents = {
  readonly site: string;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: SupervisorMetrics;
  readonly host: ProcessHost;
  readonly load: () => { active: HeldFault[]; ended: HeldFault[] };
  readonly save: (text: string) => void;
  /** Sets (offset 0: clears) a store node's clock offset through its admin route. */
  readonly skewClock: (nodeId: string, offsetMs: number, ttlMs: number, faultId: string) => Promise<void>;
  /** Deletes a store node's data file (it is not running). */
  readonly wipeDisk: (nodeId: string) => void;
  /** The supervisor's table. */
  readonly slots: () => readonly Slot[];
  /** Something changed: run the reconcile loop soon (never from inside it). */
  readonly tick: () => void;
};

export class FaultKeeper {
  readonly #c: FaultKeeperComponents;
  #active: HeldFault[] = [];
  #ended: HeldFault[] = [];
  #timer: TimerHandle | undefined;

  constructor(components: FaultKeeperComponents) {
    this.#c = components;
  }

  /** Reads the saved faults: reverts the ones that expired while no supervisor ran, holds the rest. */
  restore(): void {
    let saved: { active: HeldFault[]; ended: HeldFault[] };
    try {
      saved = this.#c.load();
    } catch (err) {
      this.#c.metrics.faultFailures.inc({ step: "load" });
      this.#c.log.error("faults file unreadable: starting with no faults", { err });
      saved = { active: [], ended: [] };
    }
    this.#active = saved.active;
    this.#ended = saved.ended;
    if (this.#active.length > 0) this.#c.log.info("faults restored", { ids: this.#active.map((f) => f.id) });
    this.expire();
  }

  /** Applies a fault (or answers the one with this id: a retried request applies once). */
  async inject(r: FaultRequest): Promise<FaultView> {
    const known = this.#find(r.id);
    if (known) return this.#view(known);
    if (this.#active.length >= activeFaultsPerSiteMax) {
      throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${this.#active.length} faults held already`);
    }
    const nowMs = this.#c.clock.nowMs();
    const slot = r.slot !== undefined || r.instance !== undefined ? this.#targetSlot(r) : undefined;
    const f: HeldFault = {
      id: r.id,
      kind: r.kind,
      tier: r.tier ?? slot?.tier ?? null,
      slot: slot?.key ?? null,
      instance: slot?.instance?.id ?? slot?.node?.id ?? null,
      offsetMs: r.offsetMs ?? null,
      ttlMs: r.ttlMs,
      startedAtMs: nowMs,
      expiresAtMs: nowMs + r.ttlMs,
      endedAtMs: null,
      reason: null,
      pid: null,
      startTicks: null,
      wiped: false,
    };
    if (r.kind === "pause") {
      const inst = slot?.instance;
      if (!inst || inst.pid <= 0) {
        throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${slot?.key}: no running instance to pause`);
      }
      if (this.#active.some((a) => a.kind === "pause" && a.pid === inst.pid)) {
        throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${slot?.key}: already paused`);
      }
      if (!this.#c.host.signal(inst.pid, { id: inst.id, startTicks: inst.startTicks }, "SIGSTOP")) {
        throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${slot?.key}: the instance is gone`);
      }
      f.pid = inst.pid;
      f.startTicks = inst.startTicks ?? null;
    }
    if (r.kind === "clock-skew") {
      await this.#c.skewClock(f.slot as string, r.offsetMs as number, r.ttlMs, r.id);
    }
    this.#active.push(f);
    this.#c.metrics.faults.inc({ kind: f.kind });
    this.#c.log.warn("fault injected", { id: f.id, kind: f.kind, slot: f.slot, tier: f.tier, ttlMs: f.ttlMs });
    this.#save();
    this.#arm();
    this.#c.tick();
    return this.#view(f);
  }

  /** Reverts faults now: one id, or every one ("*"). Unknown ids are an error naming the id. */
  async heal(id: string): Promise<FaultView[]> {
    const targets = id === "*" ? [...this.#active] : this.#active.filter((f) => f.id === id);
    if (targets.length === 0) {
      const ended = this.#ended.find((f) => f.id === id);
      if (ended || id === "*") return ended ? [this.#view(ended)] : [];
      throw controlErrors.create("RS_ERR_CATTLE_CONTROL_NO_FAULT", `${JSON.stringify(id)} on site ${this.#c.site}`);
    }
    return targets.map((f) => {
      // An empty disk healed early still comes back empty: it ends once the file is gone.
      if (f.kind === "empty-disk" && !f.wiped) {
        f.expiresAtMs = Math.min(f.expiresAtMs, this.#c.clock.nowMs());
        this.#save();
        this.#arm();
        return this.#view(f);
      }
      return this.#end(f, "healed");
    });
  }

  /** Reverts every fault whose TTL has passed (the reconcile loop calls this on every tick). */
  expire(): void {
    // empty-disk: the data file goes once the node is down (it may take a tick to die), and
    // the fault ends only after that, so the node never comes back on its old disk.
    for (const f of this.#active) if (f.kind === "empty-disk" && !f.wiped) this.#wipeIfDown(f);
    const nowMs = this.#c.clock.nowMs();
    for (const f of [...this.#active]) {
      if (f.expiresAtMs <= nowMs && (f.kind !== "empty-disk" || f.wiped)) this.#end(f, "ttl");
    }
    this.#arm();
  }

  /** The slot may not run now: a kill fault or an empty disk holds it down. */
  holds(slot: Slot): boolean {
    return this.#active.some((f) => {
      if (f.kind === "kill-site") return true;
      if (f.kind === "kill-tier") return f.tier === slot.tier;
      if (f.kind === "kill-instance" || f.kind === "empty-disk") return f.slot === slot.key;
      return false;
    });
  }

  /** The slot's instance is stopped by a pause (readiness deadlines do not run meanwhile). */
  pauses(slot: Slot): boolean {
    const pid = slot.instance?.pid;
    return pid !== undefined && this.#active.some((f) => f.kind === "pause" && f.pid === pid);
  }

  list(): { active: FaultView[]; ended: FaultView[] } {
    return { active: this.#active.map((f) => this.#view(f)), ended: this.#ended.map((f) => this.#view(f)) };
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #end(f: HeldFault, reason: "healed" | "ttl"): FaultView {
    // A revert runs the loop, which may end the same fault again: once is enough.
    if (!this.#active.includes(f)) return this.#view(f);
    this.#active = this.#active.filter((a) => a !== f);
    f.endedAtMs = this.#c.clock.nowMs();
    f.reason = reason;
    this.#revert(f);
    this.#ended.push(f);
    if (this.#ended.length > endedFaultsKeptMax) this.#ended.splice(0, this.#ended.length - endedFaultsKeptMax);
    this.#c.log.warn("fault ended", { id: f.id, kind: f.kind, reason, heldMs: f.endedAtMs - f.startedAtMs });
    this.#save();
    this.#c.tick();
    return this.#view(f);
  }

  #revert(f: HeldFault): void {
    const { host, log, metrics } = this.#c;
    if (f.kind === "pause" && f.pid !== null) {
      const identity: Identity = { id: f.instance ?? "", startTicks: f.startTicks ?? undefined };
      // A process gone meanwhile needs nothing; the identity check keeps a reused pid safe.
      if (host.isSame(f.pid, identity)) host.signal(f.pid, identity, "SIGCONT");
      const slot = this.#c.slots().find((s) => s.instance?.pid === f.pid);
      // An instance adopted while paused gets its full readiness wait from now.
      if (slot?.instance && slot.instance.state === "starting") slot.instance.sinceMono = this.#c.clock.monoMs();
    } else if (f.kind === "clock-skew" && f.slot) {
      // The node reverts on its own at the TTL; this clears an early heal (a node that is down has no skew).
      this.#c.skewClock(f.slot, 0, 0, f.id).catch((err) => {
        metrics.faultFailures.inc({ step: "unskew" });
        log.warn("could not clear a clock skew (the node reverts it at its TTL itself)", { id: f.id, err });
      });
    }
  }

  #wipeIfDown(f: HeldFault): void {
    const slot = this.#c.slots().find((s) => s.key === f.slot);
    if (!slot || slot.instance) return;
    try {
      this.#c.wipeDisk(f.slot as string);
      f.wiped = true;
      this.#c.log.warn("store node's disk emptied (chaos)", { id: f.id, node: f.slot });
      this.#save();
    } catch (err) {
      this.#c.metrics.faultFailures.inc({ step: "wipe" });
      this.#c.log.error("could not empty the disk", { id: f.id, node: f.slot, err });
    }
  }

  #targetSlot(r: FaultRequest): Slot {
    const slots = this.#c.slots();
    const slot =
      r.slot !== undefined ? slots.find((s) => s.key === r.slot) : slots.find((s) => s.instance?.id === r.instance);
    if (!slot) {
      const field =
        r.slot !== undefined ? `slot: ${JSON.stringify(r.slot)}` : `instance: ${JSON.stringify(r.instance)}`;
      throw controlErrors.create(
        "RS_ERR_CATTLE_CONTROL_NO_TARGET",
        `${field} is not on site ${this.#c.site} (slots: ${slots.map((s) => s.key).join(", ")})`,
      );
    }
    const needsStore = r.kind === "clock-skew" || r.kind === "empty-disk";
    if (needsStore && slot.tier !== "store") {
      throw controlErrors.create("RS_ERR_CATTLE_CONTROL_NO_TARGET", `${slot.key}: ${r.kind} needs a store node`);
    }
    return slot;
  }

  #find(id: string): HeldFault | undefined {
    return this.#active.find((f) => f.id === id) ?? this.#ended.find((f) => f.id === id);
  }

  /** One timer for the next expiry, beside the loop's check (a tick may be 100 ms late). */
  #arm(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#active.length === 0) return;
    const next = Math.min(...this.#active.map((f) => f.expiresAtMs));
    // An expired empty-disk waits for its node to die: look again shortly.
    const delayMs = Math.max(50, next - this.#c.clock.nowMs());
    this.#timer = this.#c.clock.setTimer(delayMs, () => this.expire());
  }

  #save(): void {
    try {
      this.#c.save(`${JSON.stringify({ format: 1, active: this.#active, ended: this.#ended }, null, 1)}\n`);
    } catch (err) {
      this.#c.metrics.faultFailures.inc({ step: "save" });
      this.#c.log.error("faults file write failed", { err });
    }
  }

  #view(f: HeldFault): FaultView {
    const nowMs = this.#c.clock.nowMs();
    return {
      id: f.id,
      kind: f.kind,
      site: this.#c.site,
      tier: (f.tier as TierName | null) ?? null,
      slot: f.slot,
      instance: f.instance,
      offsetMs: f.offsetMs,
      ttlMs: f.ttlMs,
      startedAtMs: f.startedAtMs,
      expiresAtMs: f.expiresAtMs,
      expiresInMs: f.endedAtMs === null ? Math.max(0, f.expiresAtMs - nowMs) : 0,
      state: f.endedAtMs === null ? "active" : "ended",
      endedAtMs: f.endedAtMs,
      reason: f.reason,
    };
  }
}

export function saveFaultsFile(file: string, text: string): void {
  writeFileAtomic(file, text);
}
