// Defaults and limits of the planet file. Every limit is named and asserted below.
import { assert } from "../core/index.ts";

export const sitesMax = 32;
export const storeNodesPerSiteMax = 32;
export const appInstancesPerSiteMax = 64;
export const gatewaysPerSiteMax = 8;
export const partitionsDefault = 64;
export const partitionsMax = 4096;
/** Op ids are remembered for a day by default: users retry after timeouts, failovers, page reloads. */
export const dedupWindowSDefault = 86_400;
/** At most 30 days (the dedup table grows with the write rate times the window). */
export const dedupWindowSMax = 30 * 86_400;
/** A store peer not heard from for this long no longer holds back log truncation or GC (it must be replaced or refilled). */
export const deadPeerAfterSDefault = 600;
export const deadPeerAfterSMax = 7 * 86_400;
export const rfDefault = 3;
export const dnsTtlSDefault = 5;
/**
 * DNS response-rate limiting (RRL, as BIND and Knot do it): UDP responses per second to one
 * source prefix (/24 for IPv4, /56 for IPv6) before answers are dropped or slipped; 0 turns
 * it off. Generous for a resolver, tight for a reflection flood.
 */
export const dnsRrlResponsesPerSDefault = 200;
export const dnsRrlResponsesPerSMax = 1_000_000;
/** Every slip-th rate-limited answer is sent truncated (TC=1) so a real client retries over TCP; 0 never slips. */
export const dnsRrlSlipDefault = 2;
export const dnsRrlSlipMax = 10;
/** DNS over TCP: open connections per source address (the whole server keeps its own cap too). */
export const dnsTcpConnectionsPerSourceDefault = 32;
export const dnsTcpConnectionsPerSourceMax = 256;
export const portsDefault = {
  store: 7400,
  gateway: 8080,
  dns: 5353,
  app: 9000,
  wan: 7500,
  supervisor: 7600,
  dashboard: 7700,
} as const;
/** A store node's node-to-node port is its HTTP port plus this (src/store's storePeerPortOffset agrees; a test checks). */
export const storePeerPortOffset = 1;
/** A DNS server's admin HTTP port is its DNS port plus this (src/traffic's adminPortOffset agrees; a test checks). */
export const dnsAdminPortOffset = 1;
/** Site subnets are 127.<siteOctetBase + index>.0.0/16 unless the planet names them. */
export const siteOctetBase = 10;

// --- The emulated WAN's address plan (see dial.ts). ---
/** Client region j's users live on 127.<regionOctetBase + j>.0.0/16 when the WAN is emulated, unless the planet names a subnet. */
export const regionOctetBase = 200;
/** Link proxies sit in the dialer's /16 at third octet linkOctetBase + target site index × linkRolesMax + (role octet − 1). */
export const linkOctetBase = 128;
/** Link slots per target site: store, gateway, DNS and DNS admin (app instances are never dialed across the WAN). */
export const linkRolesMax = 4;
/** Jitter and bandwidth bounds of the planet's wan section. */
export const jitterMsMax = 1_000;
export const bandwidthMbpsMax = 100_000;

assert(siteOctetBase + sitesMax <= 255, "site subnets must fit in 127.0.0.0/8");
assert(partitionsDefault <= partitionsMax, "default partitions within the maximum");
assert(linkOctetBase + sitesMax * linkRolesMax - 1 <= 255, "every site's link proxies fit the third octet");
assert(linkOctetBase > 7, "link proxy octets stay clear of the role octets (1..7)");
assert(
  dnsRrlSlipDefault <= dnsRrlSlipMax && dnsTcpConnectionsPerSourceDefault <= dnsTcpConnectionsPerSourceMax,
  "DNS defaults within their maximums",
);
assert(regionOctetBase > siteOctetBase + sitesMax, "default region blocks stay clear of default site subnets");
assert(storeNodesPerSiteMax < 255 && appInstancesPerSiteMax < 255, "per-role hosts fit a /24");

// --- The planet's gateway section (src/traffic/gateway names each in its constants.ts). ---
/** A client must send a whole request head within this, counted from accept and from its first byte after a response (HAProxy `timeout http-request`). */
export const gatewayHeadTimeoutMsDefault = 10_000;
/** A kept-alive client connection that sends nothing after a response is closed after this (`timeout http-keep-alive`). */
export const gatewayIdleTimeoutMsDefault = 60_000;
/** A connection the gateway closes is dropped if the client has not taken the last bytes within this (`timeout client-fin`). */
export const gatewayLingerTimeoutMsDefault = 5_000;
/** Client connections one source address may hold at once; peer gateways are exempt. */
export const gatewayConnectionsPerSourceMaxDefault = 1_024;
/** Requests per second one source address may send (token bucket); 0 = no cap, since a NAT, a CDN or an emulated WAN link puts many users behind one address. */
export const gatewayRequestsPerSourcePerSDefault = 0;
/** Requests one instance may have in flight (HAProxy `maxconn` per server); more wait in its queue. */
export const gatewayInstanceRequestsMaxDefault = 512;
/** Requests that may wait for one instance (HAProxy `maxqueue`); past that the answer is 503 with Retry-After. */
export const gatewayPendingPerInstanceMaxDefault = 64;
/** The longest a request waits in an instance's queue (HAProxy `timeout queue`) before a 503. */
export const gatewayQueueTimeoutMsDefault = 5_000;
export const gatewayTimeoutMsMax = 600_000;
export const gatewayConnectionsPerSourceMax = 20_000;
export const gatewayRequestsPerSourcePerSMax = 1_000_000;
export const gatewayInstanceRequestsMax = 4_096;
export const gatewayPendingPerInstanceMax = 4_096;

assert(
  gatewayHeadTimeoutMsDefault <= gatewayIdleTimeoutMsDefault,
  "a head is expected sooner than an idle client is closed",
);
assert(gatewayConnectionsPerSourceMaxDefault <= gatewayConnectionsPerSourceMax, "per-source default within bounds");
assert(gatewayPendingPerInstanceMaxDefault <= gatewayPendingPerInstanceMax, "queue default within bounds");
assert(gatewayInstanceRequestsMaxDefault <= gatewayInstanceRequestsMax, "in-flight default within bounds");

/**
 * Node flags every gateway process runs with (the supervisor, the rendered systemd units and
 * Kubernetes containers, the gateway bench). A young generation of 1 MiB per semi-space:
 * the gateway allocates ~2 KB per proxied request and keeps little of it, and a scavenge's
 * pause grows with the semi-space (1.1–1.4 ms every ~85 ms at 16 MiB, 0.2 ms at 2 MiB, at
 * 60k req/s), which is what set the gateway's p99 apart from HAProxy's: `bench:gateway`
 * (3 rounds, quiet machine) p99 1.93 ms vs HAProxy's 1.36 with V8's default, 1.46 vs 1.42
 * with this, requests/s 0.96× and 1.00×.
 */
export const gatewayNodeFlags: readonly string[] = ["--max-semi-space-size=1"];
