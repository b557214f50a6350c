// The supervisor's table: one slot per place an instance can run (a store node, gateway or
// DNS id of the planet; app#k for app instances), each with its restart history and at most
// one living instance. Slots and instances are plain records the engine mutates; this file
// also renders them as the control API's status rows.
import type { TimerHandle } from "../../core/index.ts";
import type { NodeInfo } from "../../topology/index.ts";
import type { InstanceRow, RowState } from "../control/api.ts";
import type { InstanceState } from "./state-file.ts";
import type { AppSpec, TierName } from "./tiers.ts";

/** Why an instance is being stopped (undefined while nobody asked). */
/** "fault": SIGKILLed by a chaos fault (a death, but not a failure of the slot: no back-off). */
export type StopReason = "scale-down" | "stop-all" | "ready-timeout" | "fault";

export type Instance = {
  readonly id: string;
  readonly tier: TierName;
  readonly slot: Slot;
  readonly host: string;
  readonly port: number;
  readonly version: string;
  readonly pid: number;
  readonly startTicks: number | undefined;
  /** Wall clock (persisted, shown as age). */
  readonly startedAtMs: number;
  readonly adopted: boolean;
  readonly logFile: string;
  state: InstanceState;
  /** Monotonic time of the last state change. */
  sinceMono: number;
  readySinceMono: number | undefined;
  stopReason: StopReason | undefined;
  killTimer: TimerHandle | undefined;
  /** Stops watching its exit (adopted instances are polled). */
  unwatch: () => void;
};

export type LastExit = NonNullable<InstanceRow["lastExit"]>;

export type Slot = {
  /** A store/gateway/DNS id, or app#k. */
  readonly key: string;
  readonly tier: TierName;
  /** 1-based: the node's index, or k of app#k. */
  readonly index: number;
  /** The planet identity a slotted tier keeps (absent for app slots). */
  readonly node: NodeInfo | undefined;
  restarts: number;
  failures: number;
  backoffMs: number;
  /** Monotonic time before which the slot does not start again. */
  nextStartMono: number;
  /** When the death the next start replaces was seen (monotonic). */
  diedAtMono: number | undefined;
  lastReplaceMs: number | undefined;
  lastExit: LastExit | undefined;
  instance: Instance | undefined;
  /** An app slot removed by a scale-down: its instance drains, then the slot goes. */
  retired: boolean;
  /** What an app slot runs (a rollout moves slots from one spec to another); undefined for other tiers. */
  readonly spec: AppSpec | undefined;
};

export function newSlot(tier: TierName, key: string, index: number, node: NodeInfo | undefined, spec?: AppSpec): Slot {
  return {
    key,
    tier,
    index,
    node,
    restarts: 0,
    failures: 0,
    backoffMs: 0,
    nextStartMono: 0,
    diedAtMono: undefined,
    lastReplaceMs: undefined,
    lastExit: undefined,
    instance: undefined,
    retired: false,
    spec,
  };
}

export function appSlotKey(k: number): string {
  return `app#${k}`;
}

export function isAppSlotKey(key: string): boolean {
  return /^app#[1-9]\d{0,3}$/.test(key);
}

/** The log file name of a slot (one file per slot; each start appends). */
export function slotLogName(key: string): string {
  return `${key.replace(/[^A-Za-z0-9._-]/g, "-")}.log`;
}

export function rowOf(slot: Slot, now: { mono: number; wall: number }): InstanceRow {
  const inst = slot.instance;
  let state: RowState;
  if (inst) state = inst.state;
  else state = now.mono < slot.nextStartMono ? "backoff" : "pending";
  return {
    slot: slot.key,
    tier: slot.tier,
    state,
    id: inst?.id ?? null,
    pid: inst?.pid ?? null,
    address: inst ? `${inst.host}:${inst.port}` : null,
    version: inst?.version ?? null,
    ageMs: inst ? Math.max(0, now.wall - inst.startedAtMs) : null,
    adopted: inst?.adopted ?? false,
    restarts: slot.restarts,
    failures: slot.failures,
    backoffMs: slot.backoffMs,
    nextStartInMs: !inst && now.mono < slot.nextStartMono ? Math.round(slot.nextStartMono - now.mono) : null,
    lastReplaceMs: slot.lastReplaceMs === undefined ? null : Math.round(slot.lastReplaceMs),
    lastExit: slot.lastExit ?? null,
  };
}
