// The HLC lease. Stamps are advertised long before a data commit persists them (stream
// heartbeats, stability gossip, session tokens), so the HLC mark written with data commits is
// not enough: a node restarted after a quiet spell could stamp below what it promised, and
// peers would drop its increments as already folded. So the node persists a ceiling
// (`hlcLease` in meta) about hlcLeaseMs ahead of its wall clock, never stamps or takes a
// remote stamp beyond it (HybridClock), renews it from the tick when less than
// hlcLeaseRenewMs is left, and extends it on the spot in the rare case a stamp would pass it
// (a burst carrying into the next milliseconds, a peer whose clock runs ahead). A restarted
// node resumes from the persisted ceiling.
import type { Clock, Logger } from "../../core/index.ts";
import { hlcLeaseMs, hlcLeaseRenewMs, hlcLeaseStepMs } from "../constants.ts";
import { type HybridClock, hlcFromWallMs, hlcWallMs } from "../crdt/hlc.ts";
import type { Storage } from "../storage/storage.ts";
import type { NodeMetrics } from "./node-metrics.ts";

export const hlcLeaseMetaName = "hlcLease";

/** Where a restarted clock resumes: past both the last persisted stamp and the lease it held. */
export function savedHlc(storage: Storage): number {
  return Math.max(Number(storage.meta("hlc") ?? 0), Number(storage.meta(hlcLeaseMetaName) ?? 0));
}

type LeaseDeps = { storage: Storage; clock: Clock; hlc: HybridClock; m: NodeMetrics; log: Logger };

function persist(d: LeaseDeps, needed: number, why: "start" | "renew" | "ahead"): number {
  // A lease past the wall clock, or a step past `needed` when that is further: not a lease
  // past `needed`, which after a restart (resumed at the old ceiling, already a lease ahead)
  // would ratchet the HLC, and every peer that follows it, a lease ahead per restart.
  const ceiling = Math.max(
    hlcFromWallMs(Math.floor(d.clock.nowMs()) + hlcLeaseMs),
    needed + hlcFromWallMs(hlcLeaseStepMs),
  );
  d.storage.commit({ meta: [[hlcLeaseMetaName, String(ceiling)]] });
  d.m.hlcLease.inc({ why });
  return ceiling;
}

/** Takes the lease at start (one commit); afterwards stamps stay below what is persisted. */
export function startLease(d: LeaseDeps): void {
  const ceiling = persist(d, d.hlc.last, "start");
  d.hlc.setLease(ceiling, (needed) => persist(d, needed, "ahead"));
}

/** From the tick: renews the lease once less than hlcLeaseRenewMs of it is left. */
export function renewLease(d: LeaseDeps): void {
  if (hlcWallMs(d.hlc.ceiling) - d.clock.nowMs() >= hlcLeaseRenewMs) return;
  try {
    d.hlc.raiseCeiling(persist(d, d.hlc.last, "renew"));
  } catch (err) {
    // Stamps stop at the old ceiling until a renewal succeeds (a write then fails definitely).
    d.m.hlcLeaseFailures.inc();
    d.log.error("hlc lease renewal failed", { err: err as Error });
  }
}
