// The dashboard's defaults and limits. Every queue and window has a maximum, asserted below.
import { assert } from "../core/index.ts";

/** How often every supervisor's status is asked (the event-to-screen budget is 1 s). */
export const statusPollMs = 400;
/** How often the WAN links are asked (cut or up) on an emulated planet. */
export const linksPollMs = 1_500;
/** How often the store nodes' metrics are read (replication lag, pending hints). */
export const replicationPollMs = 1_000;
/** The gateways' requests by region are scraped this often (the arcs of users the dashboard does not run). */
export const gatewayPollMs = 500;
/** A gateway's rate older than this (its scrapes stopped answering in time) is left out. */
export const gatewayRateStaleMs = 2_500;
/** A gateway that does not answer its metrics within this counts as serving nobody now. */
export const gatewayScrapeTimeoutMs = 1_500;
/** A store node's replication lag above this means no stream from that site was seen yet (not shown). */
export const lagMsShownMax = 86_400_000;
/** How often the live view is pushed to every open page (besides a push after each poll). */
export const viewPushMs = 500;
/** One chart point per this many ms. */
export const seriesStepMs = 1_000;
/** Chart points kept (10 minutes at one a second). */
export const seriesPointsMax = 600;
/** The window the arcs and the per-instance figures are computed over. */
export const arcWindowMs = 1_500;
/** The window req/s, p99 and errors of a site or instance are computed over. */
export const rateWindowMs = 3_000;
/** Finished operations kept for those windows; the oldest go first. */
export const opsKeptMax = 20_000;
/** Event log entries kept (and sent to a page that connects). */
export const eventsMax = 500;
/** Fault ids remembered so that a fault seen by two sources is logged once. */
export const faultsLoggedMax = 4_096;
/** Fault markers kept for the charts. */
export const markersMax = 200;
/** Open event streams; one more is refused with 503. */
export const streamsMax = 32;
/** An action request body larger than this is refused. */
export const actionBodyBytesMax = 16 * 1024;
/** Virtual users per client region when the page does not say. */
export const usersPerRegionDefault = 2;
export const usersPerRegionMax = 50;
/** Fault TTL of a tier or site kill when the page does not say; an instance kill holds nothing (TTL 0: replaced at once). */
export const faultTtlMsDefault = 30_000;
export const faultTtlMsMax = 3_600_000;
/** The monkey's defaults: faults per minute and each one's TTL range. */
export const monkeyRatePerMinDefault = 6;
export const monkeyRatePerMinMax = 120;
export const monkeyTtlMs = { minMs: 5_000, maxMs: 20_000 } as const;
/** A control call from the dashboard to a supervisor waits at most this long. */
export const controlTimeoutMs = 3_000;
/** The width and height of the map's equirectangular projection (SVG user units). */
export const mapWidth = 1_000;
export const mapHeight = 500;

assert(arcWindowMs <= rateWindowMs, "the arc window fits in the kept rate window");
assert(statusPollMs < 1_000 && viewPushMs < 1_000, "an event reaches the screen within 1 s");
assert(seriesStepMs >= viewPushMs, "a chart point spans at least one push");
assert(mapWidth === 2 * mapHeight, "an equirectangular world is twice as wide as high");
