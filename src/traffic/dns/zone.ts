// The static shape of the zone, built once from the planet: the apex with its SOA and NS
// records, a name server name (nsK) with glue per DNS server of the planet, and one name
// per service. Every DNS server builds the same zone from the same planet file, so any of
// them answers the same way.
import { createHash } from "node:crypto";
import type { Planet } from "../../topology/index.ts";
import { soaExpireS, soaRefreshS, soaRetryS } from "./constants.ts";
import { dnsErrors } from "./errors.ts";

export type SoaData = {
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  readonly minimum: number;
};

export type Zone = {
  /** The apex without the trailing dot, lower case, e.g. "redshirt.test". */
  readonly apex: string;
  readonly apexLabels: readonly string[];
  readonly ttlS: number;
  readonly soa: SoaData;
  /** Name server names in planet order (ns1.<zone>, ns2.<zone>, …) and their addresses. */
  readonly nameServers: readonly { readonly label: string; readonly name: string; readonly host: string }[];
  readonly services: ReadonlySet<string>;
  /** Per service, how many sites an answer lists after the nearest (the planet's fallbackSites). */
  readonly fallbackSites: ReadonlyMap<string, number>;
};

/** What a name inside or outside the zone is. Labels are compared lower-cased. */
export type NameKind =
  | { readonly kind: "outside" }
  | { readonly kind: "apex" }
  | { readonly kind: "service"; readonly label: string }
  | { readonly kind: "nameserver"; readonly host: string }
  | { readonly kind: "nxdomain" };

export function buildZone(planet: Planet): Zone {
  const apex = planet.zone.replace(/\.$/, "").toLowerCase();
  const nameServers = planet.dnsServers.map((d, i) => ({
    label: `ns${i + 1}`,
    name: `ns${i + 1}.${apex}`,
    host: d.host,
  }));
  for (const service of planet.services) {
    if (nameServers.some((n) => n.label === service)) {
      throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_NAME_CLASH", `service "${service}" in zone ${planet.zone}`);
    }
  }
  // The serial is a digest of what the zone is made of, so every server of the same planet
  // reports the same serial without talking to the others.
  const digest = createHash("sha256")
    .update(
      JSON.stringify({
        zone: apex,
        services: planet.services.map((s) => [s, planet.serviceOptions[s]?.fallbackSites ?? 0]),
        gateways: planet.gateways.map((g) => [g.id, g.host]),
        dns: planet.dnsServers.map((d) => [d.id, d.host]),
        ttlS: planet.dns.ttlS,
      }),
    )
    .digest();
  const serial = digest.readUInt32BE(0) || 1;
  return {
    apex,
    apexLabels: apex.split("."),
    ttlS: planet.dns.ttlS,
    soa: {
      mname: nameServers[0]?.name ?? apex,
      rname: `hostmaster.${apex}`,
      serial,
      refresh: soaRefreshS,
      retry: soaRetryS,
      expire: soaExpireS,
      // RFC 2308: negative answers are cached for min(SOA TTL, minimum); both are the
      // zone's TTL so a name that appears is seen as quickly as a changed answer.
      minimum: planet.dns.ttlS,
    },
    nameServers,
    services: new Set(planet.services),
    fallbackSites: new Map(planet.services.map((s) => [s, planet.serviceOptions[s]?.fallbackSites ?? 0])),
  };
}

/** Classifies a query name given as lower-cased labels (most specific first). */
export function classifyName(zone: Zone, labels: readonly string[]): NameKind {
  const apexLabels = zone.apexLabels;
  const extra = labels.length - apexLabels.length;
  if (extra < 0) return { kind: "outside" };
  for (let i = 0; i < apexLabels.length; i++) {
    if (labels[extra + i] !== apexLabels[i]) return { kind: "outside" };
  }
  if (extra === 0) return { kind: "apex" };
  // Service and name server names are single labels under the apex; nothing lives below
  // them, so every deeper name does not exist (there are no empty non-terminals).
  if (extra > 1) return { kind: "nxdomain" };
  const label = labels[0];
  if (zone.services.has(label)) return { kind: "service", label };
  const ns = zone.nameServers.find((n) => n.label === label);
  if (ns) return { kind: "nameserver", host: ns.host };
  return { kind: "nxdomain" };
}
