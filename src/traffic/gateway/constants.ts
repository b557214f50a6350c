// Defaults and limits of the gateway. Every buffer, queue, retry loop and timeout has a
// named bound here, and the relations between them are asserted at load so a bad edit
// fails at start, not under load.
import { assert } from "../../core/index.ts";
import { topologyConstants } from "../../topology/index.ts";
import {
  peerPollIntervalMs,
  probeFall,
  probeIntervalMs,
  probeJitterFraction,
  probeTimeoutMs,
} from "../dns/constants.ts";

// --- Parsing: what a head may look like before it is refused (431 or 400). ---
/** Largest request or response head (request line + fields + CRLFs); HAProxy's bufsize is 16 KiB too. */
export const headBytesMax = 16 * 1024;
export const headerFieldsMax = 100;
/** Heads up to this size are remembered per connection (head-memo.ts): one copy of the bytes each. */
export const headMemoBytesMax = 2 * 1024;
export const requestTargetBytesMax = 8 * 1024;
/** Content-Length digits: 15 decimal digits stay below 2^53, so the count is exact. */
export const contentLengthDigitsMax = 15;
/** Chunk-size hex digits: 12 hex digits stay below 2^48. */
export const chunkSizeHexDigitsMax = 12;
export const chunkExtensionBytesMax = 256;
export const trailerBytesMax = 4 * 1024;
/** Empty lines tolerated before a request line (RFC 9112 §2.2 robustness). */
export const leadingEmptyLinesMax = 4;
export const connectionTokensMax = 16;
/** Interim (1xx) responses passed on before the final one. */
export const interimResponsesMax = 8;

// --- Buffers. ---
/** Bytes a client may send beyond the request in progress (pipelining) before reads pause. */
export const pipelinedBytesMax = 64 * 1024;
/** A request body is kept for a retry only up to this size; a larger one is never retried. */
export const retryBodyBytesMax = 64 * 1024;
/**
 * A rewritten response head and the body bytes that came with it are copied into one write
 * up to this size (join-buffer.ts); a larger response goes as two buffers under cork.
 */
export const responseJoinBytesMax = 16 * 1024;

// --- Retries. ---
/** Tries per request including the first: local instances first, then other sites. */
export const attemptsPerRequestMax = 4;
/** Retries may add at most this share of the request rate ... */
export const retryBudgetRatio = 0.2;
/** ... plus this many per second, so a quiet gateway can still hide a failure. */
export const retryBudgetMinPerS = 10;
/** The most retry tokens that can be saved up for a burst of failures. */
export const retryBudgetTokensMax = 500;

// --- Upstream connections. ---
/** Requests in flight per instance (HAProxy `maxconn`); more wait in its queue. Planet: gateway.instanceRequestsMax. */
export const instanceRequestsMaxDefault = topologyConstants.gatewayInstanceRequestsMaxDefault;
/** Requests waiting per instance (HAProxy `maxqueue`); past that 503 + Retry-After. Planet: gateway.pendingPerInstanceMax. */
export const pendingPerInstanceMaxDefault = topologyConstants.gatewayPendingPerInstanceMaxDefault;
/** The longest wait in an instance's queue (HAProxy `timeout queue`). Planet: gateway.queueTimeoutMs. */
export const queueTimeoutMsDefault = topologyConstants.gatewayQueueTimeoutMsDefault;
export const poolIdleSocketsPerTargetMax = 128;
/** Idle upstream sockets close before an app's keep-alive timeout (Node's default is 5 s). */
export const poolIdleTimeoutMsDefault = 4_000;
/** An unsafe request reuses only a socket idle for less than this (smaller race with the app closing it). */
export const poolReuseUnsafeIdleMsMax = 1_000;

// --- Timeouts. ---
export const connectTimeoutMsDefault = 1_000;
/** From sending a try to its response head; an idempotent request then moves on. */
export const perTryTimeoutMsDefault = 5_000;
/** From the request head to the response head, over all tries. */
export const requestTimeoutMsDefault = 15_000;
/**
 * A client must send a whole request head within this, counted from accept and from its
 * first byte after a response (HAProxy `timeout http-request`; slowloris, also one that
 * sends only CRLFs). Planet: gateway.headTimeoutMs.
 */
export const headReadTimeoutMsDefault = topologyConstants.gatewayHeadTimeoutMsDefault;
/** A kept-alive client that sends nothing after a response is closed (`timeout http-keep-alive`). Planet: gateway.idleTimeoutMs. */
export const clientIdleTimeoutMsDefault = topologyConstants.gatewayIdleTimeoutMsDefault;
/** A closing connection whose client does not take the last bytes is dropped (`timeout client-fin`). Planet: gateway.lingerTimeoutMs. */
export const lingerTimeoutMsDefault = topologyConstants.gatewayLingerTimeoutMsDefault;
/** No byte in either direction while a body streams. */
export const streamIdleTimeoutMsDefault = 60_000;
export const tunnelIdleTimeoutMsDefault = 300_000;
/** Resolution of every timeout above: one sweep over the connections per period. */
export const timeoutSweepIntervalMs = 50;
export const shutdownGraceMsDefault = 2_000;
/**
 * A stopping gateway answers 503 on /_redshirt/healthz this long before it stops accepting,
 * so every DNS server drops it first: each one's probes must see `probeFall` 503s (each
 * within a jittered probe interval, answered within the probe timeout), and then read its
 * peers' views once more, since a gateway leaves the answers only when the views agree.
 */
export const leaveDnsMsDefault = Math.ceil(
  probeIntervalMs * (1 + probeJitterFraction) * probeFall +
    probeTimeoutMs +
    peerPollIntervalMs * (1 + probeJitterFraction),
);
/** The longest a SIGTERMed gateway takes to exit: leave DNS, then let requests finish. Kill it no sooner. */
export const gatewayStopMsMax = leaveDnsMsDefault + shutdownGraceMsDefault + 500;

// --- Health and ejection. ---
export const healthPath = "/healthz";
export const healthIntervalMsDefault = 200;
export const healthJitterRatio = 0.2;
export const healthTimeoutMsDefault = 500;
export const healthRiseDefault = 2;
export const healthFallDefault = 2;
/** Other sites' gateways are probed a little less often. */
export const peerHealthIntervalMsDefault = 250;
/** Gateway errors in a row (resets, timeouts) that eject a target; a refused connect ejects at once. */
export const ejectAfterFailures = 3;
export const ejectBaseMsDefault = 1_000;
export const ejectMaxMsDefault = 30_000;
/** After this long without an ejection, the back-off starts again from the base. */
export const ejectionForgetMs = 60_000;
export const slowStartMsDefault = 2_000;
/** A target entering slow start gets this share of its traffic at first. */
export const slowStartWeightMin = 0.1;
/**
 * Panic mode (Envoy's panic threshold, applied to ejection): at most this share of the live
 * instances may be out for uncertain reasons (resets, connect timeouts); past it, ejection
 * is ignored and requests go to all of them until the share drops: overload must not eject
 * a whole site.
 */
export const panicShareDefault = 1 / 3;

// --- Client-facing. ---
export const retryAfterS = 1;
export const clientConnectionsMax = 20_000;
/** Client connections per source address (peer gateways exempt). Planet: gateway.connectionsPerSourceMax. */
export const connectionsPerSourceMaxDefault = topologyConstants.gatewayConnectionsPerSourceMaxDefault;
/** Requests per second per source address, a token bucket; 0 = no cap. Planet: gateway.requestsPerSourcePerS. */
export const requestsPerSourcePerSDefault = topologyConstants.gatewayRequestsPerSourcePerSDefault;
/** Sources whose request-rate bucket is remembered at once; the least recently seen is forgotten first. */
export const rateSourcesMax = 65_536;
/** How far a peer gateway's hop stamp may be from this gateway's clock (replays older than this fail). */
export const hopStampSkewSMax = 60;
/** The reserved path prefix of the gateway's own endpoints; apps must not use it. */
export const adminPrefix = "/_redshirt/";
/** What the GSLB DNS and other sites' gateways probe: 200 means this site can serve with its own instances. */
export const gatewayHealthPath = `${adminPrefix}healthz`;
/** What the supervisor polls: each backend, in rotation or not and why, and its requests in flight. */
export const gatewayBackendsPath = `${adminPrefix}backends`;
/** The header that marks a request forwarded by another site's gateway; its value names that site. */
export const hopHeader = "rs-hop";
export const hopHeaderName = "RS-Hop";
/** On responses the gateway answers itself: the error code. */
export const errorHeader = "rs-error";
export const errorHeaderName = "RS-Error";

assert(healthIntervalMsDefault * (1 + healthJitterRatio) * healthFallDefault < 1_000, "a dead target out in < 1 s");
assert(healthTimeoutMsDefault <= 1_000, "health timeouts bounded");
assert(perTryTimeoutMsDefault <= requestTimeoutMsDefault, "a try fits in the request timeout");
assert(connectTimeoutMsDefault <= perTryTimeoutMsDefault, "a connect fits in a try");
assert(responseJoinBytesMax <= headBytesMax + 16 * 1024, "a joined response is a head and a small body");
assert(retryBodyBytesMax <= pipelinedBytesMax, "the retry copy is no larger than what a client may buffer");
assert(poolReuseUnsafeIdleMsMax < poolIdleTimeoutMsDefault, "unsafe reuse is stricter than pooling");
assert(attemptsPerRequestMax >= 2 && attemptsPerRequestMax <= 8, "a few tries, never a loop");
assert(retryBudgetTokensMax >= retryBudgetMinPerS, "the budget holds at least a second of floor");
assert(timeoutSweepIntervalMs * 4 <= healthIntervalMsDefault, "timeouts resolve finer than health checks");
assert(slowStartWeightMin > 0 && slowStartWeightMin <= 1, "slow start weight is a share");
assert(headBytesMax >= requestTargetBytesMax + 1024, "a head holds the largest target");
assert(connectionsPerSourceMaxDefault <= clientConnectionsMax, "a source's cap fits the total");
assert(lingerTimeoutMsDefault >= timeoutSweepIntervalMs * 4, "linger resolves on the sweep");
assert(panicShareDefault > 0 && panicShareDefault < 1, "panic share is a share");
assert(leaveDnsMsDefault >= probeIntervalMs * probeFall, "a stopping gateway outlasts the DNS probes' fall");
assert(gatewayStopMsMax <= 5_000, "a gateway stops within a supervisor's kill grace");
