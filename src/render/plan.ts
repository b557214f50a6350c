// What a renderer needs to know about one site, taken from the planet once: its processes
// with their planet identities and addresses, the other sites (reached over the routed
// WAN), and the planet file's text as the rendered processes read it.
import { parseDocument } from "yaml";
import { type NodeInfo, type Planet, type Site, siteByName, topologyConstants } from "../topology/index.ts";
import { renderErrors } from "./errors.ts";

export type SitePlan = {
  readonly planet: Planet;
  readonly site: Site;
  readonly storeNodes: readonly NodeInfo[];
  readonly gateways: readonly NodeInfo[];
  readonly dnsServers: readonly NodeInfo[];
  /** The site's WAN link process, only when the planet's WAN is emulated (one machine). */
  readonly wan: NodeInfo | undefined;
  readonly others: readonly {
    site: Site;
    storeNodes: readonly NodeInfo[];
    gateways: readonly NodeInfo[];
    dnsServers: readonly NodeInfo[];
  }[];
};

export function sitePlan(planet: Planet, siteName: string): SitePlan {
  const site = siteByName(planet, siteName);
  if (!site) {
    throw renderErrors.create(
      "RS_ERR_RENDER_UNKNOWN_SITE",
      `--site ${JSON.stringify(siteName)}: the planet ${planet.name} has the sites ${planet.sites.map((s) => s.name).join(", ")}`,
    );
  }
  const of = (list: readonly NodeInfo[], name: string) => list.filter((n) => n.site === name);
  return {
    planet,
    site,
    storeNodes: of(planet.storeNodes, site.name),
    gateways: of(planet.gateways, site.name),
    dnsServers: of(planet.dnsServers, site.name),
    wan: of(planet.wanProcesses, site.name)[0],
    others: planet.sites
      .filter((s) => s.name !== site.name)
      .map((s) => ({
        site: s,
        storeNodes: of(planet.storeNodes, s.name),
        gateways: of(planet.gateways, s.name),
        dnsServers: of(planet.dnsServers, s.name),
      })),
  };
}

export const storePeerPort = (planet: Planet): number => planet.ports.store + topologyConstants.storePeerPortOffset;
export const dnsAdminPort = (planet: Planet): number => planet.ports.dns + topologyConstants.dnsAdminPortOffset;

/**
 * The planet file as the rendered processes read it: the operator's text, comments kept,
 * with `store.dataDir` pointed at where the engine keeps the planet secret (every process
 * reads `<dataDir>/planet.secret`; store nodes get their data directory by flag). Nothing
 * else changes, so every site still agrees on every address.
 */
export function renderedPlanetText(planetText: string, secretDir: string): string {
  const doc = parseDocument(planetText);
  doc.setIn(["store", "dataDir"], secretDir);
  const header = ` Rendered by \`redshirt render\`: store.dataDir points at the planet secret (${secretDir}/planet.secret).`;
  doc.commentBefore = doc.commentBefore ? `${header}\n${doc.commentBefore}` : header;
  return doc.toString({ lineWidth: 0 });
}
