// The instance registry: how instances are found, not configured. Each instance holds a
// lease in its site's store (`_rs/registry/<site>`, a map of instance id -> lease), renewed
// by heartbeats; watchers (gateways, the supervisor, status) poll it and judge liveness by
// beats moving on their own clock. A drain set (`_rs/drain/<site>`) lists the instances the
// supervisor wants out of rotation. See docs/discovery.md.
export * as registryConstants from "./constants.ts";
export { registryErrors } from "./errors.ts";
export {
  type HolderStatus,
  LeaseHolder,
  type LeaseHolderComponents,
  type LeaseHolderOptions,
  type LeaseIdentity,
} from "./holder.ts";
export {
  drainKey,
  isInstanceId,
  type Lease,
  type LeaseState,
  type LeaseTier,
  leaseSchema,
  leaseStates,
  leaseTiers,
  parseLease,
  registryKey,
} from "./lease.ts";
export { RegistryMetrics } from "./metrics.ts";
export { RegistryInstanceSource, type RegistryInstanceSourceOptions } from "./source.ts";
export { LeaseTable } from "./table.ts";
export {
  type RegistryStore,
  RegistryWatcher,
  type RegistryWatcherComponents,
  type RegistryWatcherOptions,
  type WatcherStatus,
} from "./watcher.ts";
