// What a caller asks chaos for: one fault spec per kind, checked against the planet before
// anything is sent, so a typo names the bad field instead of reaching a supervisor. Kinds
// are the history format's (src/verify): kill-instance, kill-tier, kill-site, pause,
// partition, slow-link, clock-skew, empty-disk.

import { type Planet, siteByName } from "../topology/index.ts";
import { type FaultKind, faultKinds } from "../verify/index.ts";
import { chaosErrors } from "./errors.ts";

export const faultTtlMsMax = 24 * 3_600_000;
export const clockSkewMsMax = 10 * 60_000;
export const tiersKillable = ["wan", "store", "app", "gateway", "dns"] as const;
export type KillableTier = (typeof tiersKillable)[number];

export type FaultSpec = {
  readonly kind: FaultKind;
  /** The site (for clock-skew and empty-disk it follows from the node). */
  readonly site?: string;
  /** kill-tier. */
  readonly tier?: KillableTier;
  /** kill-instance, pause: the slot (app#1, nyc-gw1, nyc-store2, …)… */
  readonly slot?: string;
  /** …or the instance id running in it now. */
  readonly instance?: string;
  /** clock-skew, empty-disk: the store node id. */
  readonly node?: string;
  /** partition, slow-link: the other end (a site; for slow-link also a client region). */
  readonly peer?: string;
  readonly offsetMs?: number;
  readonly extraDelayMs?: number;
  readonly bandwidthMbps?: number;
  readonly ttlMs: number;
};

function bad(text: string): Error {
  return chaosErrors.create("RS_ERR_CHAOS_BAD_SPEC", text);
}

function siteNames(planet: Planet): string {
  return planet.sites.map((s) => s.name).join(", ");
}

/** Checks a spec against the planet and returns it with its site filled in. */
export function checkSpec(planet: Planet, spec: FaultSpec): FaultSpec & { readonly site: string } {
  if (!(faultKinds as readonly string[]).includes(spec.kind)) {
    throw bad(`kind: one of ${faultKinds.join(", ")} (got ${JSON.stringify(spec.kind)})`);
  }
  if (!Number.isInteger(spec.ttlMs) || spec.ttlMs < 0 || spec.ttlMs > faultTtlMsMax) {
    throw bad(`ttl: from 0 to ${faultTtlMsMax} ms (got ${JSON.stringify(spec.ttlMs)})`);
  }
  if (spec.kind === "clock-skew" || spec.kind === "empty-disk") {
    const node = planet.storeNodes.find((n) => n.id === spec.node);
    if (!node) {
      throw bad(`node: ${JSON.stringify(spec.node)} (store nodes: ${planet.storeNodes.map((n) => n.id).join(", ")})`);
    }
    if (spec.kind === "clock-skew") {
      const o = spec.offsetMs;
      if (o === undefined || !Number.isInteger(o) || o === 0 || Math.abs(o) > clockSkewMsMax) {
        throw bad(`offset: a non-zero whole number of ms within ±${clockSkewMsMax} (got ${JSON.stringify(o)})`);
      }
    }
    return { ...spec, site: node.site };
  }
  if (!spec.site || !siteByName(planet, spec.site)) {
    throw bad(`site: ${JSON.stringify(spec.site)} (sites: ${siteNames(planet)})`);
  }
  const site = spec.site;
  if (spec.kind === "kill-tier" && !(tiersKillable as readonly string[]).includes(spec.tier ?? "")) {
    throw bad(`tier: one of ${tiersKillable.join(", ")} (got ${JSON.stringify(spec.tier)})`);
  }
  if (spec.kind === "kill-instance" || spec.kind === "pause") {
    if ((spec.slot === undefined) === (spec.instance === undefined)) {
      throw bad(`slot, instance: ${spec.kind} needs exactly one of them`);
    }
  }
  if (spec.kind === "partition" || spec.kind === "slow-link") {
    if (planet.wan.mode !== "emulated") {
      throw bad(`kind: ${spec.kind} needs an emulated WAN (planet ${planet.name} has wan.mode: ${planet.wan.mode})`);
    }
    const peerOk =
      siteByName(planet, spec.peer ?? "") ||
      (spec.kind === "slow-link" && planet.clients.some((c) => c.name === spec.peer));
    if (!peerOk || spec.peer === site) {
      throw bad(
        `peer: ${JSON.stringify(spec.peer)} (another site${spec.kind === "slow-link" ? " or a client region" : ""}: ${siteNames(planet)})`,
      );
    }
    if (spec.kind === "slow-link" && spec.extraDelayMs === undefined && spec.bandwidthMbps === undefined) {
      throw bad("delay, bandwidth: slow-link needs an extra delay, a bandwidth limit, or both");
    }
  }
  return { ...spec, site };
}
