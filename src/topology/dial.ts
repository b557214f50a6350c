// The one dialing code path. A process in site S (or a user in client region R) that wants
// target X asks for the address of X as seen from where it is. On real hosts (wan.mode
// direct), and inside one site, that is X itself. With the WAN emulated on one machine it
// is a link proxy in the dialer's own block that forwards to X over the link from S (or R)
// to X's site, with the delay of that distance. The mapping is arithmetic on the planet
// file alone, so every process computes the same; the link processes listen on exactly the
// addresses siteLinks() lists, which are built with dialAddress() itself.
//
// The proxy for target host H = T.base | role << 8 | k of site T, seen from dialer block D:
//   D.base | (linkOctetBase + T.index × linkRolesMax + slot(role)) << 8 | k, on H's own port,
// where the slots are store 0, gateway 1, dns 2, dnsAdmin 3 (app instances are never dialed
// across the WAN, so they have none).
// E.g. nyc (127.10/16) dialing London's gateway 127.11.2.1:8080 dials 127.10.133.1:8080
// (128 + 1×4 + 2 − 1 = 133); the region europe (127.202/16) dials 127.202.133.1:8080.
import { cidrContains, formatIpv4, parseIpv4, type Role, roleOctet } from "./address.ts";
import { dnsAdminPortOffset, linkOctetBase, linkRolesMax, storePeerPortOffset } from "./constants.ts";
import { topologyErrors } from "./errors.ts";
import { greatCircleKm, type LatLon, oneWayMsForKm } from "./geo.ts";
import { type Planet, type Region, type Site, siteByName } from "./planet.ts";

/** A concrete thing to dial: a host and port of the planet's address plan, and the site it is in. */
export type Endpoint = { readonly host: string; readonly port: number; readonly site: string };
export type HostPort = { readonly host: string; readonly port: number };
export type LinkProtocol = "tcp" | "udp";
export type DialerKind = "site" | "region";

/** A service a link carries to a host of the target site. */
export type LinkEndpoint = Endpoint & {
  /** The node id (e.g. lon-store2). */
  readonly id: string;
  readonly role: Role;
  /** What the port serves: store, store-peer, http, dns, dns-admin. */
  readonly service: string;
  readonly protocol: LinkProtocol;
};

/** One proxy socket of a link: where it listens (in the dialer's block) and what it forwards to. */
export type LinkListener = { readonly listen: HostPort; readonly target: LinkEndpoint };

/** A directed link, from a site or region to a site, as one site's link process hosts it. */
export type LinkPlan = {
  /** `from->to`, e.g. nyc->lon. */
  readonly id: string;
  readonly from: string;
  readonly fromKind: DialerKind;
  readonly to: string;
  readonly distanceKm: number;
  /** The one-way delay of the distance (great circle × route stretch / fiber speed). */
  readonly oneWayMs: number;
  readonly listeners: readonly LinkListener[];
};

/** The link slot of each role a link can carry (see above); the others have none. */
const linkSlot: Partial<Record<Role, number>> = { store: 0, gateway: 1, dns: 2, dnsAdmin: 3 };
const roleOfSlot = (Object.entries(linkSlot) as [Role, number][]).sort((a, b) => a[1] - b[1]).map(([r]) => r);

type Service = { readonly port: number; readonly protocol: LinkProtocol; readonly service: string };

/** The services a link carries to a role, by the dialer's kind: users reach gateways and DNS only. */
export function linkServices(planet: Planet, role: Role, kind: DialerKind): Service[] {
  const p = planet.ports;
  switch (role) {
    case "store":
      return kind === "site"
        ? [
            { port: p.store, protocol: "tcp", service: "store" },
            { port: p.store + storePeerPortOffset, protocol: "tcp", service: "store-peer" },
          ]
        : [];
    case "gateway":
      return [{ port: p.gateway, protocol: "tcp", service: "http" }];
    case "dns":
      return [
        { port: p.dns, protocol: "udp", service: "dns" },
        { port: p.dns, protocol: "tcp", service: "dns" },
      ];
    case "dnsAdmin":
      // The management endpoint: DNS servers read each other's views, supervisors set
      // weights. Users never reach it.
      return kind === "site" ? [{ port: p.dns + dnsAdminPortOffset, protocol: "tcp", service: "dns-admin" }] : [];
    default:
      // App instances are reached through their site's gateway, never across the WAN.
      return [];
  }
}

function noRoute(text: string) {
  return topologyErrors.create("RS_ERR_TOPOLOGY_NO_ROUTE", text);
}

type Dialer = { kind: "site"; site: Site } | { kind: "region"; name: string; region: Region | undefined };

function dialerOf(planet: Planet, from: string): Dialer {
  const site = siteByName(planet, from);
  if (site) return { kind: "site", site };
  if (planet.clients.some((c) => c.name === from)) {
    return { kind: "region", name: from, region: planet.regions.find((r) => r.name === from) };
  }
  throw noRoute(
    `${JSON.stringify(from)} is neither a site nor a client region of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
  );
}

/** The role and index of a host in its site's address plan, or an error naming what is wrong. */
function planSlot(site: Site, host: string): { role: Role; slot: number; k: number } {
  const ip = parseIpv4(host);
  if (ip === undefined || !cidrContains(site.subnetCidr, ip)) {
    throw noRoute(`${host} is not an address of site ${site.name} (${site.subnetCidr.text})`);
  }
  const offset = (ip - site.subnetCidr.base) >>> 0;
  const octet = offset >>> 8;
  const role = (Object.keys(roleOctet) as Role[]).find((r) => roleOctet[r] === octet);
  const slot = role === undefined ? undefined : linkSlot[role];
  if (offset > 0xffff || role === undefined || (slot === undefined && role !== "app")) {
    throw noRoute(`${host} is not a store, gateway, DNS, DNS admin or app address of site ${site.name}'s plan`);
  }
  return { role, slot: slot ?? -1, k: offset & 255 };
}

/**
 * The address a dialer in `from` (a site, or a client region of planet.clients) dials to
 * reach `target`: the target itself in the same site or on real hosts (wan.mode direct),
 * else the link proxy in the dialer's own block that forwards to it.
 */
export function dialAddress(planet: Planet, from: string, target: Endpoint): HostPort {
  const targetSite = siteByName(planet, target.site);
  if (!targetSite) throw noRoute(`target site ${JSON.stringify(target.site)} is not a site of planet ${planet.name}`);
  const dialer = dialerOf(planet, from);
  if (planet.wan.mode === "direct" || from === targetSite.name) return { host: target.host, port: target.port };
  const slot = planSlot(targetSite, target.host);
  const services = linkServices(planet, slot.role, dialer.kind);
  if (!services.some((s) => s.port === target.port)) {
    const carried = services.map((s) => `${s.port} (${s.service})`).join(", ") || "nothing";
    throw noRoute(
      `${from} -> ${target.host}:${target.port}: a link from a ${dialer.kind} carries ${carried} to a ${slot.role} of site ${targetSite.name}`,
    );
  }
  const block = dialer.kind === "site" ? dialer.site.subnetCidr : dialer.region?.subnetCidr;
  if (!block) throw noRoute(`client region ${from} has no block of addresses on this machine`);
  const octet = linkOctetBase + targetSite.index * linkRolesMax + slot.slot;
  return { host: formatIpv4((block.base | (octet << 8) | slot.k) >>> 0), port: target.port };
}

/** The reverse of dialAddress: which dialer and target a link proxy address stands for (undefined: none). */
export function dialTarget(planet: Planet, host: string, port: number): { from: string; target: Endpoint } | undefined {
  const ip = parseIpv4(host);
  if (ip === undefined || planet.wan.mode === "direct") return undefined;
  const blocks = [
    ...planet.sites.map((s) => ({ name: s.name, cidr: s.subnetCidr })),
    ...planet.regions.map((r) => ({ name: r.name, cidr: r.subnetCidr })),
  ];
  const from = blocks.find((b) => cidrContains(b.cidr, ip));
  if (!from) return undefined;
  const offset = (ip - from.cidr.base) >>> 0;
  const rel = (offset >>> 8) - linkOctetBase;
  if (offset > 0xffff || rel < 0) return undefined;
  const site = planet.sites[Math.floor(rel / linkRolesMax)];
  if (!site || site.name === from.name) return undefined;
  const role = roleOfSlot[rel % linkRolesMax];
  const targetHost = formatIpv4((site.subnetCidr.base | (roleOctet[role] << 8) | (offset & 255)) >>> 0);
  return { from: from.name, target: { host: targetHost, port, site: site.name } };
}

/** Where a dialer is on the globe: its site, or its client region. */
export function dialerLocation(planet: Planet, from: string): LatLon {
  const d = dialerOf(planet, from);
  return d.kind === "site" ? d.site : planet.clients.find((c) => c.name === from)!;
}

/** The one-way delay of the link from a site or region to a site, from their distance. */
export function linkOneWayMs(planet: Planet, from: string, to: string): number {
  const site = siteByName(planet, to);
  if (!site) throw noRoute(`${JSON.stringify(to)} is not a site of planet ${planet.name}`);
  return oneWayMsForKm(greatCircleKm(dialerLocation(planet, from), site), planet.wan);
}

/** The site whose subnet holds a host, as an endpoint to dial (undefined: no site's). */
export function endpointOf(planet: Planet, host: string, port: number): Endpoint | undefined {
  const ip = parseIpv4(host);
  if (ip === undefined) return undefined;
  const site = planet.sites.find((s) => cidrContains(s.subnetCidr, ip));
  return site ? { host, port, site: site.name } : undefined;
}

function linkPlan(planet: Planet, from: string, fromKind: DialerKind, to: Site): LinkPlan {
  const nodes = [...planet.storeNodes, ...planet.gateways, ...planet.dnsServers, ...planet.dnsAdmins].filter(
    (n) => n.site === to.name,
  );
  const listeners: LinkListener[] = [];
  for (const n of nodes) {
    for (const s of linkServices(planet, n.role, fromKind)) {
      const target: LinkEndpoint = {
        host: n.host,
        port: s.port,
        site: n.site,
        id: n.id,
        role: n.role,
        service: s.service,
        protocol: s.protocol,
      };
      listeners.push({ listen: dialAddress(planet, from, target), target });
    }
  }
  const distanceKm = greatCircleKm(dialerLocation(planet, from), to);
  return {
    id: `${from}->${to.name}`,
    from,
    fromKind,
    to: to.name,
    distanceKm,
    oneWayMs: oneWayMsForKm(distanceKm, planet.wan),
    listeners,
  };
}

/**
 * The links site S's link process hosts: S's outbound links to every other site, and the
 * access links from every client region to S. Empty on real hosts (wan.mode direct).
 */
export function siteLinks(planet: Planet, siteName: string): LinkPlan[] {
  const site = siteByName(planet, siteName);
  if (!site) throw noRoute(`${JSON.stringify(siteName)} is not a site of planet ${planet.name}`);
  if (planet.wan.mode === "direct") return [];
  return [
    ...planet.sites.filter((t) => t.name !== site.name).map((t) => linkPlan(planet, site.name, "site", t)),
    ...planet.regions.map((r) => linkPlan(planet, r.name, "region", site)),
  ];
}
