// traffic: what steers every request — the site gateway (L7 load balancer with cross-site
// priority failover) and the GSLB authoritative DNS server that sends each client to the
// nearest healthy site, with the next sites as fallbacks.

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
