// The control API's wire format, shared by the supervisor's server, the CLI and (later) the
// dashboard: one table of endpoints, the JSON they take and answer, and the validators of
// their inputs, so every caller reports a bad field the same way. Bodies and answers carry
// `api: 1`; a change that breaks a reader bumps it.

import { sunClockSpeedMax } from "../../topology/index.ts";
import type { EvacuationView, SunView } from "../supervisor/evacuation.ts";
import type { RolloutState } from "../supervisor/rollout.ts";
import type { InstanceState } from "../supervisor/state-file.ts";
import { isTierName, type TierName, tierNames } from "../supervisor/tiers.ts";
import { controlErrors } from "./errors.ts";
import type { FaultView } from "./fault-api.ts";

export const controlApiVersion = 1;
/** A control request body larger than this is refused. */
export const controlBodyBytesMax = 64 * 1024;

/**
 * Every endpoint. Later steps add rows here (deploy, evacuate/restore, wan cut|heal|slow)
 * and a handler each; the server refuses to start when a row has no handler.
 */
export const controlRoutes = {
  index: { method: "GET", path: "/v1", summary: "this list" },
  status: { method: "GET", path: "/v1/status", summary: "tiers (desired vs actual) and every instance" },
  scale: { method: "PUT", path: "/v1/tiers/:tier", summary: 'set a tier\'s desired count: {"count": N}' },
  stop: { method: "POST", path: "/v1/stop", summary: "stop every instance of the site, then the supervisor" },
  deploy: {
    method: "POST",
    path: "/v1/deploy",
    summary: 'roll the app tier to a new version: {"version", "entry"?, "maxSurge"?, "maxUnavailable"?}',
  },
  evacuate: {
    method: "POST",
    path: "/v1/evacuate",
    summary: "steer users away (DNS weight 0 everywhere), then drain the app tier to 0; the store keeps replicating",
  },
  restore: {
    method: "POST",
    path: "/v1/restore",
    summary: "bring the app tier back to its count, then the users (the DNS weight)",
  },
  faults: {
    method: "GET",
    path: "/v1/faults",
    summary: "the site's faults (chaos): active ones and recently ended ones",
  },
  injectFault: {
    method: "POST",
    path: "/v1/faults",
    summary:
      'inject a fault held by this supervisor until its ttl: {"id", "kind", "ttlMs", "tier"?, "slot"?, "instance"?, "offsetMs"?}',
  },
  healFault: { method: "DELETE", path: "/v1/faults/:id", summary: "revert one fault now (id * reverts every one)" },
  sun: {
    method: "PUT",
    path: "/v1/sun",
    summary:
      'set the follow-the-sun clock: {"clockSpeed": N, "anchorRealMs"?, "anchorSimMs"?} (simulated = anchorSim + (real − anchorReal) × N; no anchor: from where this site\'s clock stands now)',
  },
  metrics: { method: "GET", path: "/metrics", summary: "Prometheus metrics" },
} as const;
export type RouteName = keyof typeof controlRoutes;

/** Matches a request to a route: its name and path parameters, or why none matched. */
export function matchRoute(
  method: string,
  path: string,
): { ok: true; route: RouteName; params: Record<string, string> } | { ok: false; code: "NOT_FOUND" | "METHOD" } {
  const parts = path.split("/");
  let pathMatched = false;
  for (const [name, r] of Object.entries(controlRoutes) as [RouteName, (typeof controlRoutes)[RouteName]][]) {
    const want = r.path.split("/");
    if (want.length !== parts.length) continue;
    const params: Record<string, string> = {};
    const same = want.every((w, i) => {
      if (w.startsWith(":")) {
        params[w.slice(1)] = decodeURIComponent(parts[i]);
        return parts[i].length > 0;
      }
      return w === parts[i];
    });
    if (!same) continue;
    pathMatched = true;
    if (r.method === method || (r.method === "GET" && method === "HEAD")) return { ok: true, route: name, params };
  }
  return { ok: false, code: pathMatched ? "METHOD" : "NOT_FOUND" };
}

export function parseTier(text: string, field = "tier"): TierName {
  if (!isTierName(text)) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_UNKNOWN_TIER",
      `${field}: ${JSON.stringify(text)} (tiers: ${tierNames.join(", ")})`,
    );
  }
  return text;
}

/** A count from a command line or a JSON body: a non-negative integer, at most max when given. */
export function parseCount(value: unknown, field = "count", max?: number): number {
  const n = typeof value === "string" && /^\d{1,6}$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_BAD_COUNT",
      `${field}: must be a non-negative integer (got ${JSON.stringify(value)})`,
    );
  }
  if (max !== undefined && n > max) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_BAD_COUNT",
      `${field}: ${n} is more than this tier's maximum of ${max}`,
    );
  }
  return n;
}

/** What a slot shows: waiting its turn at boot, backing off after a failure, or its instance's state. */
export type RowState = "pending" | "backoff" | InstanceState;

export type InstanceRow = {
  /** The slot: a store node, gateway or DNS id, or app#k. */
  readonly slot: string;
  readonly tier: TierName;
  readonly state: RowState;
  readonly id: string | null;
  readonly pid: number | null;
  /** host:port */
  readonly address: string | null;
  readonly version: string | null;
  readonly ageMs: number | null;
  readonly adopted: boolean;
  /** Replacements started in this slot since the supervisor's state began. */
  readonly restarts: number;
  /** Consecutive failed runs (a run ready for a minute resets it). */
  readonly failures: number;
  /** The back-off delay the last failure set (0 when none). */
  readonly backoffMs: number;
  /** When the next start may happen, from now (null when not waiting). */
  readonly nextStartInMs: number | null;
  /** From the last death seen to the replacement ready. */
  readonly lastReplaceMs: number | null;
  readonly lastExit: {
    readonly how: string;
    /** The instance that exited (a slot in back-off has none running). */
    readonly id: string | null;
    readonly atMs: number;
    readonly wasReady: boolean;
    /** The log's tail, when it never became ready. */
    readonly output?: string;
  } | null;
};

export type TierRow = {
  readonly tier: TierName;
  readonly desired: number;
  /** Instances ready and wanted. */
  readonly ready: number;
  /** Instances alive in any state (draining ones included). */
  readonly running: number;
  readonly max: number;
};

export type SupervisorState = "starting" | "running" | "stopping" | "stopped";

export type RolloutView = {
  readonly id: string;
  readonly state: RolloutState;
  readonly from: { readonly entry: string; readonly version: string };
  readonly to: { readonly entry: string; readonly version: string };
  readonly maxSurge: number;
  readonly maxUnavailable: number;
  readonly startedAtMs: number;
  readonly endedAtMs: number | null;
  /** Why it halted and rolled back. */
  readonly reason: string | null;
  readonly desired: number;
  /** Ready app instances on the spec being rolled to (the new one; the old one when rolling back). */
  readonly updated: number;
  /** App slots still on the other spec. */
  readonly old: number;
};

export type DeployRequest = {
  readonly version: string;
  readonly entry: string | undefined;
  readonly maxSurge: number;
  readonly maxUnavailable: number;
};

/** Checks a deploy body, naming the bad field. */
export function parseDeploy(body: unknown): DeployRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw controlErrors.create("RS_ERR_CATTLE_CONTROL_BAD_REQUEST", "the body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  if (typeof b.version !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(b.version)) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_BAD_REQUEST",
      `version: 1-64 of [A-Za-z0-9._-] (got ${JSON.stringify(b.version)})`,
    );
  }
  if (b.entry !== undefined && (typeof b.entry !== "string" || !b.entry.startsWith("/"))) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_BAD_REQUEST",
      `entry: an absolute path (got ${JSON.stringify(b.entry)})`,
    );
  }
  const maxSurge = b.maxSurge === undefined ? 1 : parseCount(b.maxSurge, "maxSurge");
  const maxUnavailable = b.maxUnavailable === undefined ? 0 : parseCount(b.maxUnavailable, "maxUnavailable");
  if (maxSurge + maxUnavailable === 0) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_BAD_REQUEST",
      "maxSurge, maxUnavailable: not both 0 (nothing could move)",
    );
  }
  return { version: b.version, entry: b.entry as string | undefined, maxSurge, maxUnavailable };
}

export type SiteStatus = {
  readonly api: typeof controlApiVersion;
  readonly site: string;
  readonly planet: string;
  readonly supervisor: {
    readonly pid: number;
    readonly address: string;
    readonly startedAtMs: number;
    readonly state: SupervisorState;
    readonly adopted: number;
  };
  /** Every tier has its desired count of ready instances. */
  readonly ready: boolean;
  readonly app: { readonly entry: string; readonly version: string };
  /** The last rollout (running, or how it ended), or null when none ran. */
  readonly rollout: RolloutView | null;
  /** Evacuate/restore: the site's phase and what the DNS servers showed last. */
  readonly evacuation: EvacuationView;
  /** Follow the sun: the local hour, the demand share and the count it sets (null: the planet has no sun). */
  readonly sun: SunView | null;
  /** The app count the operator set (what restore returns to when there is no sun). */
  readonly appDesired: number;
  /** Chaos faults this supervisor holds now (see GET /v1/faults for the ended ones). */
  readonly faults: readonly FaultView[];
  readonly tiers: readonly TierRow[];
  readonly instances: readonly InstanceRow[];
};

export type ScaleResult = { readonly api: typeof controlApiVersion; readonly tier: TierRow };
export type DeployResult = { readonly api: typeof controlApiVersion; readonly rollout: RolloutView };
export type StopResult = {
  readonly api: typeof controlApiVersion;
  readonly stopping: true;
  readonly pids: readonly number[];
};

export type EvacuationResult = { readonly api: typeof controlApiVersion; readonly evacuation: EvacuationView };
export type { EvacuationView, SunView };

export type SunResult = { readonly api: typeof controlApiVersion; readonly site: string; readonly sun: SunView };

/** A PUT /v1/sun body: the speed, and the anchor the caller computed once for every site (or none). */
export type SunRequest = {
  readonly clockSpeed: number;
  readonly anchor: { readonly realMs: number; readonly simMs: number } | undefined;
};

/** How far an anchor's real time may be from the supervisor's clock (catches seconds sent as ms). */
export const sunAnchorSkewMsMax = 3_600_000;
/** The range of a JavaScript Date, in ms from the epoch. */
const dateMsMax = 8.64e15;

function badSun(text: string): Error {
  return controlErrors.create("RS_ERR_CATTLE_CONTROL_BAD_REQUEST", text);
}

/** Checks a sun clock body against the supervisor's clock (nowMs), naming the bad field. */
export function parseSunRequest(body: unknown, nowMs: number): SunRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw badSun("the body must be a JSON object");
  const b = body as Record<string, unknown>;
  const speed = b.clockSpeed;
  if (typeof speed !== "number" || !Number.isFinite(speed) || speed <= 0 || speed > sunClockSpeedMax) {
    throw badSun(`clockSpeed: a number above 0 and at most ${sunClockSpeedMax} (got ${JSON.stringify(speed)})`);
  }
  if (b.anchorRealMs === undefined && b.anchorSimMs === undefined) return { clockSpeed: speed, anchor: undefined };
  const realMs = b.anchorRealMs;
  if (typeof realMs !== "number" || !Number.isFinite(realMs) || Math.abs(realMs - nowMs) > sunAnchorSkewMsMax) {
    throw badSun(
      `anchorRealMs: the wall-clock time (ms since the epoch) of the change, within ${sunAnchorSkewMsMax / 60_000} min of this site's ${nowMs} (got ${JSON.stringify(realMs)}); send it with anchorSimMs, or neither`,
    );
  }
  const simMs = b.anchorSimMs;
  if (typeof simMs !== "number" || !Number.isFinite(simMs) || Math.abs(simMs) > dateMsMax) {
    throw badSun(
      `anchorSimMs: the simulated UTC time (ms since the epoch) at anchorRealMs (got ${JSON.stringify(simMs)}); send it with anchorRealMs, or neither`,
    );
  }
  return { clockSpeed: speed, anchor: { realMs, simMs } };
}
