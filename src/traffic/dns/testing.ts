// Helpers for the DNS tests: a three-continent planet on test subnets, and queries built
// with dns-packet the way a resolver would send them.
import dnsPacket from "dns-packet";
import { type Planet, parsePlanet } from "../../topology/index.ts";

/**
 * A planet of three sites (nyc, lon, sin) with two gateways each, on 127.<base+i>.0.0/16.
 * Two services: www answers with the nearest healthy site only (the default), shop with
 * every site (fallbackSites: 2), nearest first.
 */
export function testPlanetYaml(options: {
  subnetBase: number;
  dnsPort: number;
  gatewayPort: number;
  gateways?: number;
  dnsPerSite?: number;
  /** Extra planet `dns:` settings, e.g. "rrl: { responsesPerS: 50, slip: 2 }". */
  dnsExtra?: string;
}): string {
  const gw = options.gateways ?? 2;
  const dns = options.dnsPerSite ?? 1;
  const site = (name: string, city: string, lat: number, lon: number, i: number): string =>
    `  - { name: ${name}, city: ${city}, lat: ${lat}, lon: ${lon}, subnet: 127.${options.subnetBase + i}.0.0/16, tiers: { store: 3, gateway: ${gw}, dns: ${dns}, app: 0 } }\n`;
  return (
    "name: dnstest\nzone: gslb.test.\nservices: [www, { name: shop, fallbackSites: 2 }]\nsites:\n" +
    site("nyc", "New York", 40.7128, -74.006, 0) +
    site("lon", "London", 51.5074, -0.1278, 1) +
    site("sin", "Singapore", 1.3521, 103.8198, 2) +
    "clients:\n" +
    "  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0 }\n" +
    "  - { name: us-west, cidr: 10.2.0.0/16, lat: 37.77, lon: -122.42 }\n" +
    "  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68 }\n" +
    "  - { name: india, cidr: 10.4.0.0/16, lat: 19.07, lon: 72.88 }\n" +
    "  - { name: asia-east, cidr: 10.5.0.0/16, lat: 35.68, lon: 139.69 }\n" +
    "  - { name: paris-office, cidr: 10.3.7.0/24, lat: 48.85, lon: 2.35 }\n" +
    // The DNS tests are about answers and health, not distance: probes dial gateways directly.
    `dns: { ttlS: 5${options.dnsExtra ? `, ${options.dnsExtra}` : ""} }\nports: { dns: ${options.dnsPort}, gateway: ${options.gatewayPort} }\nwan: { mode: direct }\n`
  );
}

export function testPlanet(subnetBase = 120): Planet {
  return parsePlanet(testPlanetYaml({ subnetBase, dnsPort: 15353, gatewayPort: 18080 }));
}

export type QuerySpec = {
  name: string;
  type?: dnsPacket.RecordType;
  id?: number;
  rd?: boolean;
  edns?: { udpPayloadSize?: number; version?: number; do?: boolean; ecs?: { ip: string; prefix: number } };
};

export function buildQuery(spec: QuerySpec): Buffer {
  const additionals: dnsPacket.Answer[] = [];
  if (spec.edns) {
    const options: dnsPacket.PacketOpt[] = [];
    if (spec.edns.ecs) {
      options.push({
        code: 8,
        family: 1,
        sourcePrefixLength: spec.edns.ecs.prefix,
        scopePrefixLength: 0,
        ip: spec.edns.ecs.ip,
      } as dnsPacket.PacketOpt);
    }
    additionals.push({
      name: ".",
      type: "OPT",
      udpPayloadSize: spec.edns.udpPayloadSize ?? 1232,
      extendedRcode: 0,
      ednsVersion: spec.edns.version ?? 0,
      flags: spec.edns.do ? dnsPacket.DNSSEC_OK : 0,
      flag_do: spec.edns.do ?? false,
      options,
    } as dnsPacket.OptAnswer);
  }
  return dnsPacket.encode({
    type: "query",
    id: spec.id ?? 4242,
    flags: spec.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: spec.name, type: spec.type ?? "A", class: "IN" }],
    additionals,
  });
}

/** The ECS option of a decoded response, if any. */
export function ecsOf(
  packet: dnsPacket.Packet,
): { sourcePrefixLength: number; scopePrefixLength: number; ip: string } | undefined {
  const opt = (packet.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const ecs = opt?.options.find((o) => o.code === 8) as
    | { sourcePrefixLength: number; scopePrefixLength: number; ip: string }
    | undefined;
  return ecs;
}
