// Defaults and limits of the GSLB DNS server. Every buffer, queue and loop has a named
// maximum; the relations the design depends on are asserted at load.
import { assert } from "../../core/index.ts";
import { topologyConstants } from "../../topology/index.ts";

/** The UDP payload size we advertise in EDNS0 (the DNS Flag Day 2020 value: no IP fragmentation). */
export const udpPayloadBytesAdvertised = 1232;
/** The UDP payload limit of a query without EDNS0 (RFC 1035). */
export const udpPayloadBytesNoEdns = 512;
/** A query larger than this is answered FORMERR (UDP) or ends the connection (TCP). */
export const queryBytesMax = 2048;
/** RFC 1035: a name is at most 255 octets on the wire. */
export const nameBytesMax = 255;

/** TCP: at most this many connections at once; more are refused by the kernel backlog. */
export const tcpConnectionsMax = 256;
/** TCP: open connections per source address (the planet's dns.tcpConnectionsPerSource); more are closed at once. */
export const tcpConnectionsPerSourceDefault = topologyConstants.dnsTcpConnectionsPerSourceDefault;

/** RRL: UDP answers per second per source /24 (the planet's dns.rrl.responsesPerS; 0 = off). */
export const rrlResponsesPerSDefault = topologyConstants.dnsRrlResponsesPerSDefault;
/** RRL: every slip-th limited answer goes out truncated (TC=1) instead of being dropped (dns.rrl.slip). */
export const rrlSlipDefault = topologyConstants.dnsRrlSlipDefault;
/** RRL: source prefixes tracked at once; past it idle ones, then the oldest, are forgotten. */
export const rrlPrefixesMax = 65_536;
/** TCP: a connection idle this long is closed (RFC 7766 asks servers to bound idle time). */
export const tcpIdleTimeoutMs = 10_000;
/** TCP: a client that leaves this many response bytes unread is disconnected. */
export const tcpUnsentBytesMax = 256 * 1024;
/** UDP socket receive buffer requested from the kernel (it may grant less). */
export const udpReceiveBufferBytes = 4 * 1024 * 1024;

/** Health probes of every gateway: interval, per-probe timeout, jitter, and how many in a row flip the state. */
export const probeIntervalMs = 500;
export const probeTimeoutMs = 400;
export const probeJitterFraction = 0.1;
export const probeFall = 2;
export const probeRise = 2;
/** The HTTP path every gateway serves for the DNS probes: 200 means the site can serve. */
export const gatewayHealthPath = "/_redshirt/healthz";

/** Peer views: how often each DNS server reads every peer's probe view, and when a view is too old to vote. */
export const peerPollIntervalMs = 500;
export const peerTimeoutMs = 400;
export const peerViewStaleMs = 1_500;
/** The largest peer view or admin request body read, in bytes. */
export const adminBodyBytesMax = 64 * 1024;
/** The admin HTTP endpoint listens on the DNS server's management address (.7.k) at the DNS port plus this. */
export const adminPortOffset = 1;

/** The bar: a site with no healthy gateway leaves the answers within this. */
export const siteDownDeadlineMs = 3_000;

/** Site weights for follow-the-sun and evacuation: 0 evacuates, weightMax is full preference. */
export const weightMax = 100;
export const weightDefault = weightMax;

/** TTL of the NS records and their glue, which change only with the planet file. */
export const nsTtlS = 300;
/** SOA timers (secondaries are not used: every site answers from the planet file). */
export const soaRefreshS = 3_600;
export const soaRetryS = 600;
export const soaExpireS = 86_400;

/** Ranked answers are cached per client block until health or weights change. */
export const rankCacheEntriesMax = 4_096;
/** Whole responses are cached per (query bytes, source) until health or weights change. */
export const responseCacheEntriesMax = 4_096;
/** Queries longer than this are never cached (bounds the cache's memory to entries × this). */
export const responseCacheQueryBytesMax = 512;

// Worst case for a hung (not refusing) gateway: the next probe starts within one interval,
// `probeFall` probes time out, then a peer needs one poll to read it. Must fit the bar.
assert(
  probeIntervalMs * probeFall + probeTimeoutMs + peerPollIntervalMs + peerTimeoutMs <= siteDownDeadlineMs,
  "probe and peer timing must drop a dead site within the deadline",
);
assert(probeTimeoutMs < probeIntervalMs && peerTimeoutMs < peerPollIntervalMs, "a probe ends before the next starts");
assert(peerViewStaleMs >= 2 * peerPollIntervalMs, "one lost poll must not make a peer's view stale");
assert(udpPayloadBytesNoEdns <= udpPayloadBytesAdvertised && udpPayloadBytesAdvertised <= 65_535, "UDP sizes");
assert(queryBytesMax >= udpPayloadBytesNoEdns && queryBytesMax < 65_536, "a query fits TCP framing");
assert(tcpConnectionsPerSourceDefault <= tcpConnectionsMax, "one source cannot be allowed more than the whole server");
assert(weightDefault > 0 && weightDefault <= weightMax, "default weight within range");
