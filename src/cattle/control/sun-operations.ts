// Follow the sun's clock speed, planet-wide: one anchor for every site. The caller reads the
// clock the sites run now (the most recently set one, should a site have missed a change),
// re-anchors it at this moment at the new speed, and sends that same anchor to every site's
// supervisor (PUT /v1/sun), so simulated time goes on from where it stood and every site
// agrees on it without talking to the others.
import { clockSimMs, planetSunClock, reanchor, type SunClock, siteSun } from "../sun/policy.ts";
import { parseSunRequest, type SunResult, type SunView } from "./api.ts";
import { callControl } from "./client.ts";
import { controlErrors } from "./errors.ts";
import { type PlanetControl, planetStatus, siteTarget } from "./operations.ts";

export type SunSiteOutcome =
  | { readonly site: string; readonly ok: true; readonly sun: SunView }
  | { readonly site: string; readonly ok: false; readonly code: string; readonly error: string };

export type SunSpeedOutcome = {
  /** The clock sent to every site. */
  readonly clock: SunClock;
  /** The simulated UTC time at the change (where the new speed starts from). */
  readonly simUtcMs: number;
  readonly sites: readonly SunSiteOutcome[];
};

/** The clock the planet runs now: the most recently set one among the sites that answer, else the planet file's. */
export async function currentSunClock(ctl: PlanetControl): Promise<SunClock> {
  const first = ctl.planet.sites[0];
  const sun = first ? siteSun(ctl.planet, first) : undefined;
  if (!sun) {
    throw controlErrors.create("RS_ERR_CATTLE_CONTROL_NO_SUN", `planet ${ctl.planet.name} has no sun section`);
  }
  let clock = planetSunClock(sun);
  for (const a of await planetStatus(ctl)) {
    const s = a.reachable ? a.status.sun : null;
    if (s && s.anchorRealMs >= clock.anchorRealMs) {
      clock = { clockSpeed: s.clockSpeed, anchorRealMs: s.anchorRealMs, anchorSimMs: s.anchorSimMs };
    }
  }
  return clock;
}

/**
 * Sets the sun clock's speed on every site from now on. A site that does not answer is
 * reported (it keeps its old clock until the command is run again); throws only when no
 * site took it, or when the planet or the speed is wrong.
 */
export async function setSunSpeed(
  ctl: PlanetControl,
  clockSpeed: unknown,
  nowMs: () => number = Date.now,
): Promise<SunSpeedOutcome> {
  const checked = parseSunRequest({ clockSpeed }, nowMs());
  const current = await currentSunClock(ctl);
  const clock = reanchor(current, nowMs(), checked.clockSpeed);
  const body = { clockSpeed: clock.clockSpeed, anchorRealMs: clock.anchorRealMs, anchorSimMs: clock.anchorSimMs };
  const errors: (Error & { code?: string })[] = [];
  const sites = await Promise.all(
    ctl.planet.sites.map(async (s): Promise<SunSiteOutcome> => {
      try {
        const r = await callControl<SunResult>(siteTarget(ctl.planet, s.name), ctl.secret, "sun", {
          body,
          timeoutMs: ctl.timeoutMs,
        });
        return { site: s.name, ok: true, sun: r.sun };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        errors.push(err as Error & { code?: string });
        return { site: s.name, ok: false, code: e.code ?? "unknown", error: e.message ?? String(err) };
      }
    }),
  );
  if (errors.length === sites.length && errors[0]) {
    // Every site refused the same way (all unreachable, all the same bad field): that error.
    const first = errors[0];
    if (errors.every((e) => e.code === first.code)) throw first;
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_UNREACHABLE",
      `no site took the sun clock: ${errors.map((e) => e.message).join("; ")}`,
    );
  }
  return { clock, simUtcMs: clockSimMs(clock, clock.anchorRealMs), sites };
}
