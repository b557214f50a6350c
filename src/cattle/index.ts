// cattle: running the planet's processes as cattle. Per-site supervisors (supervisor/) keep
// every tier at its desired count, replace what dies, drain before they stop and adopt what
// a previous supervisor left running; their control API (control/) is what the CLI and the
// dashboard call; the local runner behind `redshirt up` starts one supervisor per site.
export {
  type ControlReply,
  type ControlRequest,
  type ControlTarget,
  callControl,
  controlApiVersion,
  controlErrors,
  controlRoutes,
  type InstanceRow,
  parseCount,
  parseTier,
  type RowState,
  type SiteStatus,
  type TierRow,
} from "./control/index.ts";
export { type PlanetProcess, PlanetRunner, planetProcesses, type RunnerOptions } from "./planet-runner.ts";
export * from "./supervisor/index.ts";
