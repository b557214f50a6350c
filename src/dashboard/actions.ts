// The page's controls, each one the same operation the CLI runs, over the same
// authenticated control API: `redshirt chaos kill-instance|kill-tier|kill-site|heal`
// (src/chaos), `wan cut|heal` (wanChange), `evacuate|restore` (evacuateSite, restoreSite),
// `scale` (scaleTier), `chaos monkey`, `load`, `sun speed` (setSunSpeed). This file checks each action's body and names
// the bad field; what runs long-lived (the monkey, the virtual users) lives in dashboard.ts.
import { parseCount, parseTier, type TierName } from "../cattle/index.ts";
import type { KillableTier } from "../chaos/index.ts";
import { tiersKillable } from "../chaos/index.ts";
import { type Planet, sunClockSpeedMax } from "../topology/index.ts";
import {
  faultTtlMsDefault,
  faultTtlMsMax,
  monkeyRatePerMinDefault,
  monkeyRatePerMinMax,
  usersPerRegionDefault,
  usersPerRegionMax,
} from "./constants.ts";
import { dashboardErrors } from "./errors.ts";

export const actionNames = [
  "kill-instance",
  "kill-tier",
  "kill-site",
  "heal-site",
  "heal-fault",
  "partition",
  "heal-link",
  "evacuate",
  "restore",
  "scale",
  "monkey-start",
  "monkey-stop",
  "users-start",
  "users-stop",
  "sun-speed",
] as const;
export type ActionName = (typeof actionNames)[number];

export type Action =
  | { readonly name: "kill-instance"; readonly site: string; readonly slot: string }
  | { readonly name: "kill-tier"; readonly site: string; readonly tier: KillableTier; readonly ttlMs: number }
  | { readonly name: "kill-site"; readonly site: string; readonly ttlMs: number }
  | { readonly name: "heal-site"; readonly site: string }
  | { readonly name: "heal-fault"; readonly id: string }
  | { readonly name: "partition" | "heal-link"; readonly a: string; readonly b: string }
  | { readonly name: "evacuate" | "restore"; readonly site: string }
  | { readonly name: "scale"; readonly site: string; readonly tier: TierName; readonly count: number }
  | { readonly name: "monkey-start"; readonly ratePerMin: number; readonly seed: number }
  | { readonly name: "monkey-stop" | "users-stop" }
  | { readonly name: "users-start"; readonly usersPerRegion: number; readonly seed: number }
  | { readonly name: "sun-speed"; readonly clockSpeed: number };

function bad(text: string): Error {
  return dashboardErrors.create("RS_ERR_DASHBOARD_BAD_REQUEST", text);
}

export function isActionName(text: string): text is ActionName {
  return (actionNames as readonly string[]).includes(text);
}

type Body = Record<string, unknown>;

function siteOf(planet: Planet, body: Body, field = "site"): string {
  const v = body[field];
  if (typeof v !== "string" || !planet.sites.some((s) => s.name === v)) {
    throw bad(`${field}: ${JSON.stringify(v)} (sites: ${planet.sites.map((s) => s.name).join(", ")})`);
  }
  return v;
}

function stringOf(body: Body, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || !/^[A-Za-z0-9#._*-]{1,128}$/.test(v)) {
    throw bad(`${field}: 1-128 of [A-Za-z0-9#._*-] (got ${JSON.stringify(v)})`);
  }
  return v;
}

function numberOf(body: Body, field: string, fallback: number, min: number, max: number): number {
  const v = body[field] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw bad(`${field}: a number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function ttlOf(body: Body): number {
  return Math.round(numberOf(body, "ttlS", faultTtlMsDefault / 1000, 0, faultTtlMsMax / 1000) * 1000);
}

function seedOf(body: Body): number {
  return Math.round(numberOf(body, "seed", Math.floor(Math.random() * 1_000_000), 0, 2 ** 31 - 1));
}

/** Checks an action's JSON body against the planet; throws RS_ERR_DASHBOARD_BAD_REQUEST naming the field. */
export function parseAction(planet: Planet, name: string, input: unknown): Action {
  if (!isActionName(name)) {
    throw dashboardErrors.create(
      "RS_ERR_DASHBOARD_NOT_FOUND",
      `action ${JSON.stringify(name)} (actions: ${actionNames.join(", ")})`,
    );
  }
  if (typeof input !== "object" || input === null || Array.isArray(input)) throw bad("the body must be a JSON object");
  const body = input as Body;
  switch (name) {
    case "kill-instance":
      return { name, site: siteOf(planet, body), slot: stringOf(body, "slot") };
    case "kill-tier": {
      const tier = body.tier;
      if (typeof tier !== "string" || !(tiersKillable as readonly string[]).includes(tier)) {
        throw bad(`tier: one of ${tiersKillable.join(", ")} (got ${JSON.stringify(tier)})`);
      }
      return { name, site: siteOf(planet, body), tier: tier as KillableTier, ttlMs: ttlOf(body) };
    }
    case "kill-site":
      return { name, site: siteOf(planet, body), ttlMs: ttlOf(body) };
    case "heal-site":
    case "evacuate":
    case "restore":
      return { name, site: siteOf(planet, body) };
    case "heal-fault":
      return { name, id: stringOf(body, "id") };
    case "partition":
    case "heal-link": {
      const a = siteOf(planet, body, "a");
      const b = siteOf(planet, body, "b");
      if (a === b) throw bad(`b: ${JSON.stringify(b)} is a as well; a link joins two sites`);
      return { name, a, b };
    }
    case "scale": {
      const tier = parseTier(String(body.tier));
      return { name, site: siteOf(planet, body), tier, count: parseCount(body.count) };
    }
    case "monkey-start":
      return {
        name,
        ratePerMin: numberOf(body, "ratePerMin", monkeyRatePerMinDefault, 0.1, monkeyRatePerMinMax),
        seed: seedOf(body),
      };
    case "users-start":
      return {
        name,
        usersPerRegion: Math.round(numberOf(body, "usersPerRegion", usersPerRegionDefault, 1, usersPerRegionMax)),
        seed: seedOf(body),
      };
    case "monkey-stop":
    case "users-stop":
      return { name };
    case "sun-speed": {
      const v = body.clockSpeed;
      if (typeof v !== "number" || !Number.isFinite(v) || v <= 0 || v > sunClockSpeedMax) {
        throw bad(`clockSpeed: a number above 0 and at most ${sunClockSpeedMax} (got ${JSON.stringify(v)})`);
      }
      if (!planet.sun) {
        throw dashboardErrors.create("RS_ERR_DASHBOARD_NO_SUN", `planet ${planet.name} has no sun section`);
      }
      return { name, clockSpeed: v };
    }
  }
}
