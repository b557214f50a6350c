// The planet-wide operations on the supervisors, in one place for the CLI and (later) the
// dashboard: ask every site's status (a site whose supervisor does not answer is reported
// as such, never hides the others), scale one tier, stop a site or the planet. Stopping
// waits until no process is left, and still works when a supervisor is dead: its processes
// are found by their owner tag and stopped directly.
import type { Planet } from "../../topology/index.ts";
import { lockHolder, supervisorPidFile } from "../supervisor/lock.ts";
import { ownerTagOf, planetDataDir, supervisorDir } from "../supervisor/paths.ts";
import { isSameProcess, pidAlive, procStartTicks, scanOwned, signalGroup } from "../supervisor/processes.ts";
import { envNames, type TierName } from "../supervisor/tiers.ts";
import type { ScaleResult, SiteStatus, StopResult, TierRow } from "./api.ts";
import { type ControlTarget, callControl, targetOf } from "./client.ts";
import { controlErrors } from "./errors.ts";

export type PlanetControl = { readonly planet: Planet; readonly secret: Buffer; readonly timeoutMs?: number };

export type SiteAnswer =
  | { readonly site: string; readonly reachable: true; readonly status: SiteStatus }
  | { readonly site: string; readonly reachable: false; readonly code: string; readonly error: string };

/** The control address of a site's supervisor; throws naming the field when the site is unknown. */
export function siteTarget(planet: Planet, site: string, field = "site"): ControlTarget {
  const s = planet.supervisors.find((x) => x.site === site);
  if (!s) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_UNKNOWN_SITE",
      `${field}: ${JSON.stringify(site)} (sites: ${planet.sites.map((x) => x.name).join(", ")})`,
    );
  }
  return targetOf(s);
}

export async function siteStatus(ctl: PlanetControl, site: string): Promise<SiteAnswer> {
  try {
    const status = await callControl<SiteStatus>(siteTarget(ctl.planet, site), ctl.secret, "status", {
      timeoutMs: ctl.timeoutMs,
    });
    return { site, reachable: true, status };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { site, reachable: false, code: e.code ?? "unknown", error: e.message ?? String(err) };
  }
}

/** Every site's status, in planet order, asked in parallel. */
export function planetStatus(ctl: PlanetControl): Promise<SiteAnswer[]> {
  return Promise.all(ctl.planet.sites.map((s) => siteStatus(ctl, s.name)));
}

export async function scaleTier(ctl: PlanetControl, site: string, tier: TierName, count: number): Promise<TierRow> {
  const r = await callControl<ScaleResult>(siteTarget(ctl.planet, site), ctl.secret, "scale", {
    params: { tier },
    body: { count },
    timeoutMs: ctl.timeoutMs,
  });
  return r.tier;
}

export type StopOutcome = {
  readonly site: string;
  /** "api": the supervisor stopped its instances; "direct": it did not answer, we signalled them ourselves. */
  readonly via: "api" | "direct";
  readonly processes: number;
  /** Pids still alive at the end (empty when the stop is complete). */
  readonly left: readonly number[];
};

const stopWaitMsDefault = 30_000;

type Tracked = { readonly pid: number; readonly startTicks: number | undefined };

function track(pid: number): Tracked {
  return { pid, startTicks: procStartTicks(pid) };
}

/** Alive and still the same process (a pid may be reused after it died). */
function stillThere(t: Tracked): boolean {
  return pidAlive(t.pid) && (t.startTicks === undefined || procStartTicks(t.pid) === t.startTicks);
}

async function waitGone(tracked: readonly Tracked[], deadlineMs: number): Promise<Tracked[]> {
  for (;;) {
    const left = tracked.filter(stillThere);
    if (left.length === 0 || Date.now() >= deadlineMs) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The processes a site's supervisor owns, found by their owner tag (works with no supervisor alive). */
export function ownedProcesses(planet: Planet, site: string): number[] {
  return scanOwned(envNames.owner, ownerTagOf(planetDataDir(planet), site)).map((p) => p.pid);
}

/**
 * Stops a site: asks its supervisor to stop everything and waits for every pid it named
 * (and any other process carrying its owner tag) to go; when the supervisor does not
 * answer, signals them directly (SIGTERM, SIGKILL after the grace). Bounded by waitMs.
 */
export async function stopSite(
  ctl: PlanetControl,
  site: string,
  options: { waitMs?: number; graceMs?: number } = {},
): Promise<StopOutcome> {
  const deadline = Date.now() + (options.waitMs ?? stopWaitMsDefault);
  const dir = supervisorDir(planetDataDir(ctl.planet), site);
  let via: StopOutcome["via"] = "api";
  let pids: number[];
  try {
    const r = await callControl<StopResult>(siteTarget(ctl.planet, site), ctl.secret, "stop", {
      timeoutMs: ctl.timeoutMs,
    });
    pids = [...r.pids];
  } catch (err) {
    if ((err as { code?: string }).code !== "RS_ERR_CATTLE_CONTROL_UNREACHABLE") throw err;
    via = "direct";
    // Whoever holds the pid file must not start replacements while we stop its instances.
    const holder = lockHolder(supervisorPidFile(dir));
    pids = holder ? [holder.pid] : [];
    if (holder) signalGroup(holder.pid, "SIGKILL");
  }
  const all = new Set([...pids, ...ownedProcesses(ctl.planet, site)]);
  const tracked = [...all].filter(pidAlive).map(track);
  if (via === "direct") for (const t of tracked) signalGroup(t.pid, "SIGTERM");
  const graceDeadline = Math.min(deadline, Date.now() + (options.graceMs ?? 10_000));
  let left = await waitGone(tracked, via === "direct" ? graceDeadline : deadline);
  if (left.length > 0) {
    // The bounded wait ran out: what is left is killed, so `down` leaves no process behind.
    for (const t of left) signalGroup(t.pid, "SIGKILL");
    left = await waitGone(left, Date.now() + 2_000);
  }
  return { site, via, processes: all.size, left: left.map((t) => t.pid) };
}

/** Stops every site in parallel. */
export function stopPlanet(ctl: PlanetControl, options: { waitMs?: number } = {}): Promise<StopOutcome[]> {
  return Promise.all(ctl.planet.sites.map((s) => stopSite(ctl, s.name, options)));
}

/** Whether a process is one of this site's instances (for tests and tools that hold a pid). */
export function isSiteInstance(planet: Planet, site: string, pid: number, id: string): boolean {
  return isSameProcess(
    pid,
    { ownerTag: ownerTagOf(planetDataDir(planet), site), id },
    { owner: envNames.owner, instanceId: envNames.instanceId },
  );
}
