// Follow the sun, the pure policy: from a (simulated) time and a site's place on the planet,
// the app instances the site should run and the DNS weight that says how much of the
// planet's traffic it should draw. Pure functions of their inputs, so a test passes the time
// in and every supervisor of the planet, reading the same wall clock, agrees without talking.
import type { Planet, Site, SunConfig } from "../../topology/index.ts";

export const hourMs = 3_600_000;
export const dayMs = 24 * hourMs;
/** The DNS weight of a site at full capacity (the DNS server's maximum). */
export const sunWeightMax = 100;

/** One site's resolved policy: the curve and the counts, and where its local time is. */
export type SiteSun = {
  readonly site: string;
  readonly utcOffsetHours: number;
  readonly peakInstances: number;
  readonly minInstances: number;
  readonly clockSpeed: number;
  readonly shiftHours: number;
  readonly curve: SunConfig["curve"];
};

/** The site's policy from the planet, or undefined when the planet does not follow the sun. */
export function siteSun(planet: Planet, site: Site): SiteSun | undefined {
  const sun = planet.sun;
  if (!sun) return undefined;
  const own = sun.sites[site.name] ?? {};
  return {
    site: site.name,
    // Solar time: 15 degrees of longitude per hour. A timezone would move by whole hours and
    // summer time; the sun (and the demand that follows it) does not.
    utcOffsetHours: own.utcOffsetHours ?? site.lon / 15,
    peakInstances: own.peakInstances ?? sun.peakInstances,
    minInstances: own.minInstances ?? sun.minInstances,
    clockSpeed: sun.clockSpeed,
    shiftHours: sun.shiftHours,
    curve: sun.curve,
  };
}

/**
 * The follow-the-sun clock: simulated = anchorSimMs + (real − anchorRealMs) × clockSpeed.
 * The planet file's clock is anchored at the epoch (anchorSimMs = shiftHours); a speed set at
 * run time is anchored where the old clock stood at that moment, so simulated time goes on
 * from where it was (it never jumps), and every site that gets the same anchor agrees.
 */
export type SunClock = { readonly clockSpeed: number; readonly anchorRealMs: number; readonly anchorSimMs: number };

/** The planet file's clock: realMs × clockSpeed + shiftHours. */
export function planetSunClock(s: Pick<SiteSun, "clockSpeed" | "shiftHours">): SunClock {
  return { clockSpeed: s.clockSpeed, anchorRealMs: 0, anchorSimMs: s.shiftHours * hourMs };
}

export function clockSimMs(c: SunClock, realMs: number): number {
  return c.anchorSimMs + (realMs - c.anchorRealMs) * c.clockSpeed;
}

/** The real wall-clock time at which the clock shows simMs (the inverse). */
export function clockRealMsAt(c: SunClock, simMs: number): number {
  return c.anchorRealMs + (simMs - c.anchorSimMs) / c.clockSpeed;
}

/** The clock running at a new speed from realMs on, continuous with c at that moment. */
export function reanchor(c: SunClock, realMs: number, clockSpeed: number): SunClock {
  return { clockSpeed, anchorRealMs: realMs, anchorSimMs: clockSimMs(c, realMs) };
}

/** The simulated UTC time (ms) at a real wall-clock time on the planet file's clock. */
export function simulatedUtcMs(realMs: number, s: Pick<SiteSun, "clockSpeed" | "shiftHours">): number {
  return clockSimMs(planetSunClock(s), realMs);
}

/** The real wall-clock time at which the planet file's clock shows simMs (the inverse). */
export function realMsAt(simMs: number, s: Pick<SiteSun, "clockSpeed" | "shiftHours">): number {
  return clockRealMsAt(planetSunClock(s), simMs);
}

/** Local hour of day, 0 ≤ h < 24, at a simulated UTC time. */
export function localHour(simUtcMs: number, utcOffsetHours: number): number {
  const h = (simUtcMs / hourMs + utcOffsetHours) % 24;
  return h < 0 ? h + 24 : h;
}

/** The demand share at a local hour: linear between the curve's points, wrapping past midnight. */
export function shareAt(curve: SunConfig["curve"], hour: number): number {
  if (curve.length === 1) return curve[0].share;
  const next = curve.findIndex((p) => p.hour > hour);
  const b = next === -1 ? curve[0] : curve[next];
  const a = next === -1 ? curve[curve.length - 1] : next === 0 ? curve[curve.length - 1] : curve[next - 1];
  let span = b.hour - a.hour;
  let into = hour - a.hour;
  if (span <= 0) span += 24;
  if (into < 0) into += 24;
  return a.share + ((b.share - a.share) * into) / span;
}

/** Instances that cover a share of the peak: rounded up (capacity must cover demand), at least the minimum. */
export function instancesFor(share: number, s: Pick<SiteSun, "peakInstances" | "minInstances">): number {
  // The epsilon keeps 0.8 × 5 (4.000000000000001 in floating point) from asking for 5.
  const needed = Math.ceil(share * s.peakInstances - 1e-9);
  return Math.min(s.peakInstances, Math.max(s.minInstances, needed));
}

/** The DNS weight of a site running `count` of its peak: proportional, 0 only when it runs nothing. */
export function weightFor(count: number, peakInstances: number): number {
  if (count <= 0) return 0;
  return Math.max(1, Math.min(sunWeightMax, Math.round((sunWeightMax * count) / peakInstances)));
}

export type SunDecision = {
  readonly localHour: number;
  readonly share: number;
  readonly instances: number;
  readonly weight: number;
};

/** What the site should run at a real wall-clock time (on the planet file's clock unless given one). */
export function sunDecision(s: SiteSun, realMs: number, clock: SunClock = planetSunClock(s)): SunDecision {
  const hour = localHour(clockSimMs(clock, realMs), s.utcOffsetHours);
  const share = shareAt(s.curve, hour);
  const instances = instancesFor(share, s);
  return { localHour: hour, share, instances, weight: weightFor(instances, s.peakInstances) };
}
