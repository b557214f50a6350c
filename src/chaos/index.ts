// chaos: fault injection at every tier — SIGKILL an instance, a tier or a whole site (held
// down until its TTL, then back with its disks: a power loss), SIGSTOP/SIGCONT, partition and
// slow links between places, skew a store node's clock, rebuild a store node from an empty
// disk — and the monkey, continuous random faults from a seed within a blast-radius limit.
// Every fault carries a time-to-live and is held by a long-lived party (the site's
// supervisor, or the WAN link process) that reverts it even if the injector dies. Faults are
// recorded in the history format of src/verify on the caller's clock. See docs/chaos.md.
export { type Chaos, type ChaosOptions, createChaos, type FaultListing, type ListedFault } from "./chaos.ts";
export { chaosErrors } from "./errors.ts";
export {
  createMonkey,
  type Monkey,
  type MonkeyFault,
  type MonkeyLimits,
  type MonkeyOptions,
  monkeyKindsDefault,
  monkeyLimitsDefault,
  type PlanContext,
  planFault,
  storeNodesDownBy,
  withinLimits,
} from "./monkey.ts";
export { checkSpec, clockSkewMsMax, type FaultSpec, faultTtlMsMax, type KillableTier, tiersKillable } from "./spec.ts";
