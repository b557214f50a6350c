// load: virtual users in the planet's client regions, each a browser plus a good SDK: a
// stub resolver asking the GSLB DNS on the wire with the region's EDNS Client Subnet and
// honouring the TTL, connections over the region's emulated access link, a cookie jar, a
// seeded shopper's script (browse, log in, cart, checkout, orders), the next address when a
// connection fails and a retry with the same Idempotency-Key when a mutation's outcome is
// unknown. Every operation is recorded in src/verify's history format for `redshirt check`.
export * as loadConstants from "./constants.ts";
export { CookieJar } from "./cookie-jar.ts";
export { createUserAgent, regionConnector, regionLocalAddress } from "./dialer.ts";
export { buildAQuery, type ClientSubnet, type DnsAnswer, DnsClient, readAnswer, UserDns } from "./dns-client.ts";
export { loadErrors } from "./errors.ts";
export {
  type AttemptResult,
  backoffMs,
  decideRetry,
  finalOutcome,
  isDefiniteAnswer,
  type RetryDecision,
} from "./retry.ts";
export {
  type HistorySink,
  type LoadOptions,
  type LoadProgress,
  type LoadSummary,
  loadHistoryHeader,
  type RegionStats,
  runLoad,
  userRandom,
  userSubnet,
} from "./run-load.ts";
export { type Action, newBelief, nextAction, observe, type UserBelief } from "./user-model.ts";
