// Defaults and limits of the load generator. Every retry loop, queue and wait has a
// maximum, and how they relate is asserted at load.
import { assert } from "../core/index.ts";

/** Requests one operation may send (first try plus retries) before the user gives up. */
export const attemptsMaxDefault = 6;
export const attemptsMaxLimit = 50;
/** Longest one operation may take, retries included, before the user gives up. */
export const opTimeMsMaxDefault = 15_000;
/** One request's wait for the response head, then for the rest of its body. */
export const requestTimeoutMsDefault = 4_000;
/** A connection that is not up in this long counts as failed (the next address is tried). */
export const connectTimeoutMsDefault = 2_000;
/** Pause before a retry: base × 2^(attempt − 1), capped, with seeded jitter of up to half. */
export const retryBackoffMsBase = 25;
export const retryBackoffMsMax = 500;

/** A DNS server that does not answer in this long is left for the next one. */
export const dnsTimeoutMsDefault = 1_000;
/** UDP payload size the stub advertises (the server's own limit, docs/dns.md). */
export const dnsUdpPayloadBytes = 1_232;
/** An answer larger than this over TCP is refused (ours are far smaller). */
export const dnsTcpAnswerBytesMax = 65_535;
/** Addresses of one answer a user keeps (the GSLB lists every healthy gateway). */
export const dnsAddressesMax = 64;

/** Users per region the CLI starts by default, and the most one run may start in all. */
export const usersPerRegionDefault = 4;
export const usersMax = 10_000;
/** A user's pause between two operations is drawn from [thinkMsMin, thinkMsMax]. */
export const thinkMsMinDefault = 20;
export const thinkMsMaxDefault = 200;
/** Connections a user's browser keeps to one address (browsers: 6). */
export const connectionsPerOriginMax = 6;
/** Idle kept-alive connections close after this long. */
export const keepAliveMsDefault = 4_000;
/** Response bodies larger than this are an error (ours are small JSON and HTML pages). */
export const responseBytesMax = 4 * 1_048_576;

/** Progress is reported this often. */
export const progressIntervalMs = 1_000;
/** The longest a run may be asked to last. */
export const durationMsMax = 24 * 3_600_000;

assert(connectTimeoutMsDefault < opTimeMsMaxDefault, "a connection attempt fits in one operation's time");
assert(requestTimeoutMsDefault < opTimeMsMaxDefault, "one request fits in one operation's time");
assert(attemptsMaxDefault >= 2, "a failed connection must leave room for the next address");
assert(retryBackoffMsBase <= retryBackoffMsMax, "backoff base within its cap");
assert(thinkMsMinDefault <= thinkMsMaxDefault, "think time range");
