// The control API's wire format, shared by the supervisor's server, the CLI and (later) the
// dashboard: one table of endpoints, the JSON they take and answer, and the validators of
// their inputs, so every caller reports a bad field the same way. Bodies and answers carry
// `api: 1`; a change that breaks a reader bumps it.
import type { InstanceState } from "../supervisor/state-file.ts";
import { isTierName, type TierName, tierNames } from "../supervisor/tiers.ts";
import { controlErrors } from "./errors.ts";

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
  readonly tiers: readonly TierRow[];
  readonly instances: readonly InstanceRow[];
};

export type ScaleResult = { readonly api: typeof controlApiVersion; readonly tier: TierRow };
export type StopResult = {
  readonly api: typeof controlApiVersion;
  readonly stopping: true;
  readonly pids: readonly number[];
};
