// The per-site supervisor: keeps each tier at its desired count, replaces what dies (with a
// crash-loop back-off), drains before it stops, and adopts the instances a previous
// supervisor left running. See docs/cattle.md.
export { planAdoption } from "./adopt.ts";
export { backoffDelayMs } from "./backoff.ts";
export * as supervisorConstants from "./constants.ts";
export { type DrainCheck, type DrainGate, StoreDrainGate, verdictFromView } from "./drain.ts";
export { supervisorErrors } from "./errors.ts";
export { type ProcessHost, systemHost } from "./host.ts";
export { lockHolder, supervisorPidFile, takeSupervisorLock } from "./lock.ts";
export { SupervisorMetrics } from "./metrics.ts";
export { ownerTagOf, planetDataDir, supervisorDir } from "./paths.ts";
export { type Prober, readinessProber } from "./probes.ts";
export {
  describeExit,
  type ExitInfo,
  isSameProcess,
  logTail,
  pidAlive,
  readEnviron,
  signalGroup,
  spawnDetached,
} from "./processes.ts";
export { type RunSupervisorOptions, runSupervisor } from "./run.ts";
export { type InstanceState, instanceStates, loadState, type PersistedState, stateFilePath } from "./state-file.ts";
export { Supervisor, type SupervisorComponents, type SupervisorOptions } from "./supervisor.ts";
export {
  type AppSpec,
  appEntryDefault,
  cliMain,
  envNames,
  isTierName,
  repoRoot,
  type TierName,
  tierNames,
} from "./tiers.ts";
