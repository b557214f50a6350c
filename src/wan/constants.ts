// Defaults and limits of the emulated WAN. Every queue, table and body has a named maximum;
// the relations the proxies depend on are asserted at load.
import { assert } from "../core/index.ts";

/** Bytes a connection may hold in one direction (in flight on the emulated fiber, or waiting out a cut) before its reader pauses. */
export const queueBytesMax = 4 * 1024 * 1024;
/** A paused reader resumes once its queue drains below this. */
export const queueBytesResume = queueBytesMax / 2;
/** The most bytes one socket read hands us (Node's stream high-water mark for sockets); the queue bound may be exceeded by one read. */
export const readChunkBytesMax = 64 * 1024;
/** Open TCP connections per link; more are closed at once (counted). */
export const connectionsPerLinkMax = 10_000;
/** UDP: client sessions (source address:port pairs) per link, each with its own upstream socket. */
export const udpSessionsPerLinkMax = 4_096;
/** UDP: a session without a datagram either way for this long is closed. */
export const udpSessionIdleMs = 30_000;
/** UDP: how often idle sessions are swept. */
export const udpSweepIntervalMs = 5_000;
/** UDP: datagrams waiting in one direction of a session; more are dropped (counted), as a router queue would. */
export const udpQueueDatagramsMax = 1_024;
/** TCP loss is a retransmission: a lost chunk arrives this much later at least (Linux's minimum RTO). */
export const retransmitMsMin = 200;
/** The largest admin request body read. */
export const adminBodyBytesMax = 16 * 1024;
/** Extra one-way delay an operator may add to a link with `slow`. */
export const extraDelayMsMax = 60_000;
/** The longest time-to-live of a cut or slow (chaos faults revert within a day at most). */
export const faultTtlMsMax = 24 * 3_600_000;
/** How long stop() waits for connections to end before it destroys them. */
export const stopGraceMs = 500;
/** Admin requests from the client time out after this. */
export const adminTimeoutMsDefault = 5_000;
/** Listen backlog of each link proxy socket. */
export const listenBacklog = 1_024;

assert(queueBytesResume > 0 && queueBytesResume < queueBytesMax, "the resume mark is below the bound");
assert(readChunkBytesMax <= queueBytesMax / 4, "one read is small beside the queue bound");
assert(udpSweepIntervalMs < udpSessionIdleMs, "idle sessions are swept before they are twice stale");
assert(retransmitMsMin > 0 && extraDelayMsMax >= 1_000, "delays are sane");
