// Defaults and limits of the planet file. Every limit is named and asserted below.
import { assert } from "../core/index.ts";

export const sitesMax = 32;
export const storeNodesPerSiteMax = 32;
export const appInstancesPerSiteMax = 64;
export const gatewaysPerSiteMax = 8;
export const partitionsDefault = 64;
export const partitionsMax = 4096;
/** Op ids are remembered for a day by default: users retry after timeouts, failovers, page reloads. */
export const dedupWindowSDefault = 86_400;
/** At most 30 days (the dedup table grows with the write rate times the window). */
export const dedupWindowSMax = 30 * 86_400;
export const rfDefault = 3;
export const dnsTtlSDefault = 5;
export const portsDefault = { store: 7400, gateway: 8080, dns: 5353, app: 9000 } as const;
/** Site subnets are 127.<siteOctetBase + index>.0.0/16 unless the planet names them. */
export const siteOctetBase = 10;

assert(siteOctetBase + sitesMax <= 255, "site subnets must fit in 127.0.0.0/8");
assert(partitionsDefault <= partitionsMax, "default partitions within the maximum");
assert(storeNodesPerSiteMax < 255 && appInstancesPerSiteMax < 255, "per-role hosts fit a /24");
