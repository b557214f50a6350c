// traffic: the tier that steers every request. The site gateway (an L7 load balancer on a
// byte-level HTTP/1.1 data path: P2C least-request, health checks, outlier ejection,
// retries within a budget, priority failover to the nearest healthy site) and the GSLB
// authoritative DNS that sends each user to the nearest healthy site.
export { type FailureKind, neverSent } from "./gateway/balancer.ts";
export * as gatewayConstants from "./gateway/constants.ts";
export { gatewayHealthPath } from "./gateway/constants.ts";
export { gatewayErrors } from "./gateway/errors.ts";
export { Gateway, type GatewayHealth, type GatewayOptions, type TargetStatus } from "./gateway/gateway.ts";
export type { Probe } from "./gateway/health.ts";
export { type InstanceInfo, type InstanceSource, PlanetInstanceSource } from "./gateway/instances.ts";
export { isIdempotent } from "./gateway/retry.ts";
