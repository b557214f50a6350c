// cattle: running the planet's processes. Today: the local runner behind `redshirt up`,
// which starts every site's store nodes, app instances, gateways and DNS servers on this
// machine, and the instance registry (registry/): leases held by instances, watched by
// gateways and supervisors. Later: per-site supervisors (replace, drain, roll, follow the sun).
export { type PlanetProcess, PlanetRunner, planetProcesses, type RunnerOptions } from "./planet-runner.ts";
export {
  drainKey,
  type HolderStatus,
  isInstanceId,
  type Lease,
  LeaseHolder,
  type LeaseHolderComponents,
  type LeaseHolderOptions,
  type LeaseIdentity,
  type LeaseState,
  LeaseTable,
  type LeaseTier,
  leaseSchema,
  leaseStates,
  leaseTiers,
  parseLease,
  RegistryInstanceSource,
  type RegistryInstanceSourceOptions,
  RegistryMetrics,
  type RegistryStore,
  RegistryWatcher,
  type RegistryWatcherComponents,
  type RegistryWatcherOptions,
  registryConstants,
  registryErrors,
  registryKey,
  type WatcherStatus,
} from "./registry/index.ts";
