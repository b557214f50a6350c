// The planet's WAN operations for the CLI and (later) the dashboard: list every link, and
// cut, heal or slow the links between two places (both directions between sites, the one
// access link from a region). Names are checked against the planet before anything is
// sent, so a typo names the bad field instead of reaching a link process.
import { type Planet, siteByName } from "../../topology/index.ts";
import { type LinkSlow, type LinkStatus, WanAdminClient, wanErrors } from "../../wan/index.ts";
import type { PlanetControl } from "./operations.ts";

export type WanAction = "cut" | "heal" | "slow";

function checkEmulated(planet: Planet): void {
  if (planet.wan.mode === "direct") {
    throw wanErrors.create(
      "RS_ERR_WAN_DIRECT",
      `planet ${planet.name} has wan.mode: direct (real hosts): there is no emulated link to cut, heal or slow`,
    );
  }
}

function checkPlace(planet: Planet, name: string, field: string): void {
  if (siteByName(planet, name) || planet.clients.some((c) => c.name === name)) return;
  const names = [...planet.sites.map((s) => s.name), ...planet.clients.map((c) => c.name)];
  throw wanErrors.create(
    "RS_ERR_WAN_UNKNOWN_SITE",
    `${field}: ${JSON.stringify(name)} (sites and regions: ${names.join(", ")})`,
  );
}

async function withClient<T>(ctl: PlanetControl, f: (c: WanAdminClient) => Promise<T>): Promise<T> {
  checkEmulated(ctl.planet);
  const client = new WanAdminClient({ planet: ctl.planet, secret: ctl.secret, timeoutMs: ctl.timeoutMs });
  try {
    return await f(client);
  } finally {
    await client.close();
  }
}

/** Every link of the planet, as its link processes report them. */
export function wanLinks(ctl: PlanetControl): Promise<LinkStatus[]> {
  return withClient(ctl, (c) => c.allLinks());
}

/** Cuts, heals or slows every link between a and b; returns the links as they are now. */
export function wanChange(
  ctl: PlanetControl,
  action: WanAction,
  a: string,
  b: string,
  change: LinkSlow = {},
): Promise<LinkStatus[]> {
  checkEmulated(ctl.planet);
  checkPlace(ctl.planet, a, "A");
  checkPlace(ctl.planet, b, "B");
  if (a === b)
    throw wanErrors.create("RS_ERR_WAN_UNKNOWN_LINK", `A and B are both ${JSON.stringify(a)}: a link joins two places`);
  return withClient(ctl, (c) =>
    action === "cut" ? c.cutBetween(a, b) : action === "heal" ? c.healBetween(a, b) : c.slowBetween(a, b, change),
  );
}
