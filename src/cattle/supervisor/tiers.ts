// The tiers a site's supervisor keeps, in start order, and how one instance of each is
// launched. Two kinds: *slotted* tiers keep their planet identities (a store node restarts
// with its id and its data; a replacement gateway or DNS server takes the freed address,
// which the zone and the other sites already know), and the *pool* tier (app) gets a fresh
// identity on every start: a new id and an address from the site's app address pool.
// The WAN links process (src/wan) is one more slotted tier, first in the order: every other
// process of the site dials other sites through it. A planet on real hosts (`wan.mode:
// direct`) has no wan slots, so that tier is empty.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type NodeInfo, type Planet, roleAddress, type Site, topologyConstants } from "../../topology/index.ts";

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const cliMain = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));
/** What the platform's own processes report as their version. */
export const platformVersion: string = JSON.parse(readFileSync(`${repoRoot}package.json`, "utf8")).version;

/** Start order: a tier starts once the tiers before it are up (at boot only; replacements never wait). */
export const tierNames = ["wan", "store", "app", "gateway", "dns"] as const;
export type TierName = (typeof tierNames)[number];

export function isTierName(text: string): text is TierName {
  return (tierNames as readonly string[]).includes(text);
}

/** The app every site runs: a file run with Node, and the version it reports. */
export type AppSpec = { readonly entry: string; readonly version: string; readonly readyPath: string };

export const appEntryDefault = `${repoRoot}examples/shop/server.ts`;
export const appVersionDefault = "1";
export const appReadyPathDefault = "/healthz";

export type TierPlan =
  | { readonly kind: "slotted"; readonly tier: Exclude<TierName, "app">; readonly slots: readonly NodeInfo[] }
  | { readonly kind: "pool"; readonly tier: "app"; readonly addresses: readonly string[]; readonly port: number };

/** The tiers of one site: which identities and addresses each may use, and how many the planet asks for. */
export function siteTierPlans(planet: Planet, site: Site): Record<TierName, TierPlan> {
  const of = (list: readonly NodeInfo[]) => list.filter((n) => n.site === site.name);
  return {
    wan: { kind: "slotted", tier: "wan", slots: of(planet.wanProcesses) },
    store: { kind: "slotted", tier: "store", slots: of(planet.storeNodes) },
    gateway: { kind: "slotted", tier: "gateway", slots: of(planet.gateways) },
    dns: { kind: "slotted", tier: "dns", slots: of(planet.dnsServers) },
    app: {
      kind: "pool",
      tier: "app",
      addresses: Array.from({ length: topologyConstants.appInstancesPerSiteMax }, (_, k) =>
        roleAddress(site.subnetCidr, "app", k + 1),
      ),
      port: planet.ports.app,
    },
  };
}

/** The most instances a tier may be scaled to: its slots, or the app address pool. */
export function tierMax(plan: TierPlan): number {
  return plan.kind === "slotted" ? plan.slots.length : plan.addresses.length;
}

/** The count the planet file asks for. */
export function plannedCount(site: Site, tier: TierName, plans?: Record<TierName, TierPlan>): number {
  // The planet file does not count WAN link processes: a site has one when its WAN is emulated.
  if (tier === "wan") return plans ? tierMax(plans.wan) : 0;
  return site.tiers[tier];
}

/** Everything needed to start one instance. */
export type LaunchSpec = {
  readonly id: string;
  readonly tier: TierName;
  readonly slot: string;
  readonly host: string;
  readonly port: number;
  readonly version: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
};

export type LaunchContext = {
  readonly planetFile: string;
  readonly site: string;
  /** Marks every process of this supervisor, so a restarted supervisor finds its orphans. */
  readonly ownerTag: string;
  readonly app: AppSpec;
  readonly nodeBin: string;
};

/** The variables every instance gets: who it is (for its own lease, via src/sdk) and who owns it. */
export const envNames = {
  instanceId: "REDSHIRT_INSTANCE_ID",
  site: "REDSHIRT_SITE",
  planet: "REDSHIRT_PLANET",
  version: "REDSHIRT_VERSION",
  tier: "REDSHIRT_TIER",
  slot: "REDSHIRT_SLOT",
  owner: "REDSHIRT_OWNER",
} as const;

export function launchSpec(
  ctx: LaunchContext,
  at: { tier: TierName; slot: string; id: string; host: string; port: number; index?: number },
): LaunchSpec {
  const common = ["--planet", ctx.planetFile];
  const version = at.tier === "app" ? ctx.app.version : platformVersion;
  let args: string[];
  switch (at.tier) {
    case "wan":
      args = [cliMain, "wan", ...common, "--site", ctx.site];
      break;
    case "store":
      args = [cliMain, "store", ...common, "--node", at.id];
      break;
    case "gateway":
      args = [
        ...topologyConstants.gatewayNodeFlags,
        cliMain,
        "gateway",
        ...common,
        "--site",
        ctx.site,
        "--index",
        String(at.index),
      ];
      break;
    case "dns":
      args = [cliMain, "dns", ...common, "--site", ctx.site, "--index", String(at.index)];
      break;
    case "app":
      args = [ctx.app.entry];
      break;
  }
  return {
    ...at,
    version,
    command: ctx.nodeBin,
    args,
    env: {
      [envNames.instanceId]: at.id,
      [envNames.site]: ctx.site,
      [envNames.planet]: ctx.planetFile,
      [envNames.version]: version,
      [envNames.tier]: at.tier,
      [envNames.slot]: at.slot,
      [envNames.owner]: ctx.ownerTag,
      HOST: at.host,
      PORT: String(at.port),
    },
  };
}
