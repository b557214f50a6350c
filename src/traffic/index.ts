// traffic: the tier that steers every request. The site gateway (an L7 load balancer on a
// byte-level HTTP/1.1 data path: P2C least-request, health checks, outlier ejection,
// retries within a budget, priority failover to the nearest healthy site) and the GSLB
// authoritative DNS that sends each user to the nearest healthy site.

// GSLB DNS (src/traffic/dns)
export * as dnsConstants from "./dns/constants.ts";
export { dnsErrors } from "./dns/errors.ts";
export { type FetchViewFn, HealthMonitor, type ProbeFn, type View } from "./dns/health.ts";
export { adminPortOf, httpFetchView, httpProbe } from "./dns/http.ts";
export { buildLocator, type Located, type Locator, locate } from "./dns/locate.ts";
export { type AnswerState, type HandleContext, type HandleResult, handleQuery } from "./dns/message.ts";
export { type Ranked, Ranker } from "./dns/ranking.ts";
export { runDnsServer } from "./dns/run.ts";
export {
  createDnsServer,
  type DnsServer,
  type DnsServerComponents,
  type DnsServerOptions,
  dnsServerFor,
} from "./dns/server.ts";
export { downVotesNeeded, upByVotes, type Vote } from "./dns/votes.ts";
export { type WeightConfig, WeightStore } from "./dns/weights.ts";
export { buildZone, classifyName, type Zone } from "./dns/zone.ts";
// Site gateway (src/traffic/gateway)
export { type FailureKind, neverSent } from "./gateway/balancer.ts";
export * as gatewayConstants from "./gateway/constants.ts";
export { gatewayBackendsPath, gatewayHealthPath, gatewayStopMsMax, leaveDnsMsDefault } from "./gateway/constants.ts";
export { gatewayErrors } from "./gateway/errors.ts";
export { Gateway, type GatewayOptions } from "./gateway/gateway.ts";
export type { Probe } from "./gateway/health.ts";
export { type InstanceInfo, type InstanceSource, PlanetInstanceSource } from "./gateway/instances.ts";
export { isIdempotent } from "./gateway/retry.ts";
export type {
  BackendStatus,
  BackendsView,
  GatewayHealth,
  OutOfRotation,
  PeerStatus,
} from "./gateway/status.ts";
