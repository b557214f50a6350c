// Defaults and limits of the per-site supervisor. The relations the design promises (a dead
// instance is replaced within 2 s; a crash loop backs off from short to long; a drain is
// bounded) are asserted at load, so a bad edit fails at start, not in production.
import { assert } from "../../core/index.ts";
import { storeConstants } from "../../store/index.ts";
import { gatewayStopMsMax } from "../../traffic/index.ts";

/** The reconcile loop runs this often even when nothing happened (events run it at once too). */
export const tickMs = 100;
/** An adopted instance is not our child: its death is seen by polling its pid this often. */
export const adoptedPollMs = 200;
/** The death of an instance is seen within this (own children at once, adopted by polling). */
export const deathSeenMsMax = 250;

/** The first restart after a failure waits this long; each further failure doubles it… */
export const backoffBaseMs = 200;
/** …up to this. (Kubernetes' 10 s → 5 min is what its users complain about most.) */
export const backoffMaxMs = 30_000;
/** A run that stayed ready this long resets the failure count: the next death restarts at the base delay. */
export const stableResetMs = 60_000;

/** Readiness probes of a starting instance run this often… */
export const probeIntervalMs = 100;
/** …each bounded by this… */
export const probeTimeoutMs = 500;
/** …and an instance not ready after this is killed and counted as a failed start. */
export const readyTimeoutMsDefault = 30_000;

/** Drain: how often the gateways' backend views are read while waiting. */
export const drainPollMs = 100;
/** Drain: the longest wait for every gateway to take an instance out of rotation with 0 in flight. */
export const drainWaitMsMax = 10_000;
/** Drain: one read of a gateway's backends view is bounded by this. */
export const drainReadTimeoutMs = 500;
/**
 * Stop: SIGTERM, then SIGKILL after this grace, per tier. An app's SDK keeps serving for a
 * 1 s drain notice and gives requests in flight up to 10 s (src/sdk/constants.ts); a
 * gateway leaves DNS answers first (gatewayStopMsMax ≤ 5 s); a store node stops within
 * storeStopMsMax. Each grace is a little longer than what it waits for.
 */
export const stopGraceMsByTier = { app: 12_000, gateway: 6_000, store: 11_000, dns: 4_000, wan: 3_000 } as const;

/** Bytes of an instance's log kept before it is rotated (one older generation is kept). */
export const logBytesMax = 8 * 1024 * 1024;
/** How much of an instance's log tail a status row carries after a failed start. */
export const logTailBytesMax = 2_048;
/** Instances per site the state file may hold (every tier together). */
export const instancesPerSiteMax = 256;
/** Processes looked at when scanning /proc for orphans of this supervisor. */
export const procScanMax = 65_536;

/** The format of the state file; bumped when its shape changes incompatibly. */
export const stateFormat = 1;

const firstRestartMs = backoffBaseMs + tickMs;
assert(deathSeenMsMax >= adoptedPollMs + tickMs / 2, "an adopted death is seen within the promised time");
assert(deathSeenMsMax + firstRestartMs < 2_000, "a dead instance is started again well within 2 s");
assert(backoffBaseMs < backoffMaxMs && backoffMaxMs < stableResetMs, "back-off grows, and resets only after it");
assert(probeTimeoutMs < readyTimeoutMsDefault && probeIntervalMs < probeTimeoutMs, "probes fit the readiness wait");
assert(drainPollMs < drainWaitMsMax && drainReadTimeoutMs < drainWaitMsMax, "a drain wait polls several times");
assert(logTailBytesMax < logBytesMax, "the tail is a small part of a log");
assert(gatewayStopMsMax < stopGraceMsByTier.gateway, "a gateway's own stop fits its kill grace");
assert(storeConstants.storeStopMsMax < stopGraceMsByTier.store, "a store node's own stop fits its kill grace");
