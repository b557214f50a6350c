// The wire format of site faults (chaos): what `POST /v1/faults` takes, what `GET /v1/faults`
// answers. A supervisor is the long-lived party that holds every fault of its site: it
// applies it, saves it, and reverts it at its time-to-live — also after it was itself killed
// and started again. Faults between sites (partition, slow link) are held by the WAN link
// processes instead (src/wan), and the chaos part (src/chaos) lists both.
import type { TierName } from "../supervisor/tiers.ts";
import { isTierName, tierNames } from "../supervisor/tiers.ts";
import { controlErrors } from "./errors.ts";

/** The kinds a supervisor holds (partition and slow-link are the WAN's). */
export const siteFaultKinds = ["kill-instance", "kill-tier", "kill-site", "pause", "clock-skew", "empty-disk"] as const;
export type SiteFaultKind = (typeof siteFaultKinds)[number];

/** The longest time-to-live of a fault. */
export const faultTtlMsMax = 24 * 3_600_000;
/** Faults a site holds at once; more are refused. */
export const activeFaultsPerSiteMax = 64;
/** Ended faults a supervisor keeps for `GET /v1/faults` (the oldest go first). */
export const endedFaultsKeptMax = 256;
/** The largest clock offset a skew may set (the store node checks the same bound). */
export const clockSkewMsMax = 10 * 60_000;

export type FaultRequest = {
  /** Chosen by the injector, unique on the planet: a retried POST with the same id applies once. */
  readonly id: string;
  readonly kind: SiteFaultKind;
  readonly ttlMs: number;
  /** kill-tier: the tier. */
  readonly tier?: TierName;
  /** kill-instance, pause, clock-skew, empty-disk: the slot (app#2, nyc-store1, …)… */
  readonly slot?: string;
  /** …or the id of the instance running in it now. */
  readonly instance?: string;
  /** clock-skew: the offset added to the node's wall clock. */
  readonly offsetMs?: number;
};

export type FaultView = {
  readonly id: string;
  readonly kind: SiteFaultKind;
  readonly site: string;
  readonly tier: TierName | null;
  readonly slot: string | null;
  /** The instance the fault hit (its id when injected). */
  readonly instance: string | null;
  readonly offsetMs: number | null;
  readonly ttlMs: number;
  /** Wall clock of the supervisor. */
  readonly startedAtMs: number;
  readonly expiresAtMs: number;
  readonly expiresInMs: number;
  readonly state: "active" | "ended";
  readonly endedAtMs: number | null;
  readonly reason: "healed" | "ttl" | null;
};

export type FaultsAnswer = {
  readonly api: 1;
  readonly site: string;
  readonly active: readonly FaultView[];
  readonly ended: readonly FaultView[];
};
export type FaultAnswer = { readonly api: 1; readonly fault: FaultView };
export type HealAnswer = { readonly api: 1; readonly healed: readonly FaultView[] };

const idPattern = /^[A-Za-z0-9._:-]{1,64}$/;

function bad(text: string): Error {
  return controlErrors.create("RS_ERR_CATTLE_CONTROL_BAD_REQUEST", text);
}

export function isFaultId(text: string): boolean {
  return idPattern.test(text);
}

/** Checks a fault body, naming the bad field. */
export function parseFaultRequest(body: unknown): FaultRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw bad("the body must be a JSON object");
  const b = body as Record<string, unknown>;
  const known = new Set(["id", "kind", "ttlMs", "tier", "slot", "instance", "offsetMs"]);
  for (const k of Object.keys(b))
    if (!known.has(k)) throw bad(`${k}: not a field of a fault (${[...known].join(", ")})`);
  if (typeof b.id !== "string" || !isFaultId(b.id)) {
    throw bad(`id: 1-64 of [A-Za-z0-9._:-] (got ${JSON.stringify(b.id)})`);
  }
  if (typeof b.kind !== "string" || !(siteFaultKinds as readonly string[]).includes(b.kind)) {
    throw bad(`kind: one of ${siteFaultKinds.join(", ")} (got ${JSON.stringify(b.kind)})`);
  }
  const kind = b.kind as SiteFaultKind;
  if (typeof b.ttlMs !== "number" || !Number.isInteger(b.ttlMs) || b.ttlMs < 0 || b.ttlMs > faultTtlMsMax) {
    throw bad(`ttlMs: an integer from 0 to ${faultTtlMsMax} (got ${JSON.stringify(b.ttlMs)})`);
  }
  const out: { -readonly [K in keyof FaultRequest]: FaultRequest[K] } = { id: b.id, kind, ttlMs: b.ttlMs };
  if (kind === "kill-tier") {
    if (typeof b.tier !== "string" || !isTierName(b.tier)) {
      throw bad(`tier: one of ${tierNames.join(", ")} (got ${JSON.stringify(b.tier)})`);
    }
    out.tier = b.tier;
  }
  const needsTarget = kind === "kill-instance" || kind === "pause" || kind === "clock-skew" || kind === "empty-disk";
  if (needsTarget) {
    if (b.slot !== undefined && (typeof b.slot !== "string" || b.slot.length === 0 || b.slot.length > 64)) {
      throw bad(`slot: a slot name such as app#1 or nyc-store1 (got ${JSON.stringify(b.slot)})`);
    }
    if (b.instance !== undefined && (typeof b.instance !== "string" || !isFaultId(b.instance))) {
      throw bad(`instance: an instance id (got ${JSON.stringify(b.instance)})`);
    }
    if ((b.slot === undefined) === (b.instance === undefined)) throw bad(`slot, instance: ${kind} needs exactly one`);
    if (b.slot !== undefined) out.slot = b.slot as string;
    if (b.instance !== undefined) out.instance = b.instance as string;
  }
  if (kind === "clock-skew") {
    const o = b.offsetMs;
    if (typeof o !== "number" || !Number.isInteger(o) || o === 0 || Math.abs(o) > clockSkewMsMax) {
      throw bad(`offsetMs: a non-zero integer from -${clockSkewMsMax} to ${clockSkewMsMax} (got ${JSON.stringify(o)})`);
    }
    out.offsetMs = o;
  }
  return out;
}
