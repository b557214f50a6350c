// The control API of the supervisors: the endpoint table and wire types (api.ts), the
// server a supervisor runs (server.ts), the client (client.ts) and the planet-wide
// operations the CLI and the dashboard share (operations.ts).
export {
  controlApiVersion,
  controlBodyBytesMax,
  controlRoutes,
  type DeployRequest,
  type DeployResult,
  type EvacuationResult,
  type EvacuationView,
  type InstanceRow,
  matchRoute,
  parseCount,
  parseDeploy,
  parseSunRequest,
  parseTier,
  type RolloutView,
  type RouteName,
  type RowState,
  type ScaleResult,
  type SiteStatus,
  type StopResult,
  type SunRequest,
  type SunResult,
  type SunView,
  type SupervisorState,
  sunAnchorSkewMsMax,
  type TierRow,
} from "./api.ts";
export { type ControlTarget, callControl, controlTimeoutMsDefault, targetOf } from "./client.ts";
export { controlErrors } from "./errors.ts";
export {
  describeStep,
  type EvacuationProgress,
  evacuateSite,
  evacuateWaitMsDefault,
  restoreSite,
  servesUsers,
} from "./evacuate-operations.ts";
export {
  activeFaultsPerSiteMax,
  type FaultAnswer,
  type FaultRequest,
  type FaultsAnswer,
  type FaultView,
  type HealAnswer,
  parseFaultRequest,
  type SiteFaultKind,
  siteFaultKinds,
} from "./fault-api.ts";
export { type DnsWeightsAnswer, dnsWeights, type WanAnswer, wanStatus } from "./network-operations.ts";
export {
  deploySite,
  isSiteInstance,
  ownedProcesses,
  type PlanetControl,
  planetStatus,
  type SiteAnswer,
  type StopOutcome,
  scaleTier,
  siteStatus,
  siteTarget,
  stopPlanet,
  stopSite,
} from "./operations.ts";
export { type ControlHandlers, type ControlReply, type ControlRequest, ControlServer } from "./server.ts";
export { currentSunClock, type SunSiteOutcome, type SunSpeedOutcome, setSunSpeed } from "./sun-operations.ts";
export { type WanAction, wanChange, wanLinks } from "./wan-operations.ts";
