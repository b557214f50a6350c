// The planet file: sites, their coordinates and tier counts, the DNS zone, the store's
// options, and where clients are. Validated with zod; every error names the bad field and
// the line it is on, because a person wrote this file by hand.
import { readFileSync } from "node:fs";
import { isMap, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { type Cidr, cidrContains, parseCidr, parseIpv4, type Role, roleAddress } from "./address.ts";
import {
  appInstancesPerSiteMax,
  bandwidthMbpsMax,
  deadPeerAfterSDefault,
  deadPeerAfterSMax,
  dedupWindowSDefault,
  dedupWindowSMax,
  dnsAdminPortOffset,
  dnsRrlResponsesPerSDefault,
  dnsRrlResponsesPerSMax,
  dnsRrlSlipDefault,
  dnsRrlSlipMax,
  dnsTcpConnectionsPerSourceDefault,
  dnsTcpConnectionsPerSourceMax,
  dnsTtlSDefault,
  gatewaysPerSiteMax,
  jitterMsMax,
  partitionsDefault,
  partitionsMax,
  portsDefault,
  regionOctetBase,
  rfDefault,
  siteOctetBase,
  sitesMax,
  storeNodesPerSiteMax,
} from "./constants.ts";
import { topologyErrors } from "./errors.ts";
import { gatewaySettingsSchema } from "./gateway-settings.ts";
import { greatCircleKm, type LatLon, rttMsForKm } from "./geo.ts";
import { sunSchema } from "./sun.ts";

const nameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, "must be lower-case letters, digits and '-', starting with a letter (max 31)");
const cidrSchema = z.string().refine((s) => parseCidr(s) !== undefined, "must be an IPv4 CIDR like 127.10.0.0/16");
const portSchema = z.number().int().min(0).max(65535);

export const consistencyLevels = ["local-one", "local-quorum", "global", "all"] as const;
export type Consistency = (typeof consistencyLevels)[number];

const siteSchema = z
  .object({
    name: nameSchema,
    city: z.string().min(1),
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    subnet: cidrSchema
      .refine((s) => (parseCidr(s)?.prefixLength ?? 99) <= 16, "a site subnet must be /16 or larger")
      .optional(),
    tiers: z
      .object({
        store: z.number().int().min(1).max(storeNodesPerSiteMax).default(3),
        gateway: z.number().int().min(1).max(gatewaysPerSiteMax).default(1),
        dns: z.number().int().min(0).max(4).default(1),
        app: z.number().int().min(0).max(appInstancesPerSiteMax).default(2),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const clientSchema = z
  .object({
    name: nameSchema,
    /** The region's real network: the DNS locates a client by it (ECS or source address). */
    cidr: cidrSchema,
    lat: z.number().min(-90).max(90),
    lon: z.number().min(-180).max(180),
    /** Where the region's users live on one machine when the WAN is emulated; its access links listen here. */
    subnet: cidrSchema
      .refine((s) => (parseCidr(s)?.prefixLength ?? 99) <= 16, "a region subnet must be /16 or larger")
      .optional(),
  })
  .strict();

const serviceLabelSchema = z.string().regex(/^[a-z0-9-]{1,63}$/, "must be a single DNS label");
/**
 * A service name, or the name with options. The DNS answers with the nearest healthy site's
 * gateways only (resolvers reorder RRsets, so a list of every site sends users far);
 * `fallbackSites: N` adds the next N sites after it, for clients that try every address.
 */
const serviceSchema = z.union([
  serviceLabelSchema,
  z
    .object({
      name: serviceLabelSchema,
      fallbackSites: z
        .number()
        .int()
        .min(0)
        .max(sitesMax - 1)
        .default(0),
    })
    .strict(),
]);

export const wanModes = ["emulated", "direct"] as const;
export type WanMode = (typeof wanModes)[number];

export const planetSchema = z
  .object({
    name: nameSchema,
    zone: z
      .string()
      .regex(/^([a-z0-9-]{1,63}\.)+$/, "must be a DNS name ending with '.', e.g. redshirt.test.")
      .refine((s) => s.length <= 253, "must be at most 253 characters"),
    services: z.array(serviceSchema).min(1).default(["www"]),
    sites: z.array(siteSchema).min(1).max(sitesMax),
    clients: z.array(clientSchema).max(1024).default([]),
    store: z
      .object({
        partitions: z.number().int().min(1).max(partitionsMax).default(partitionsDefault),
        rf: z.number().int().min(1).max(storeNodesPerSiteMax).default(rfDefault),
        consistency: z.enum(consistencyLevels).default("local-quorum"),
        dataDir: z.string().min(1).default(".redshirt/data"),
        /** How long an op id is remembered on every replica: a retry within it is not applied again. */
        dedupWindowS: z.number().int().min(1).max(dedupWindowSMax).default(dedupWindowSDefault),
        /** A peer not heard from for this long stops holding back log truncation and GC; it must then be replaced (or is refilled by anti-entropy when it returns). */
        deadPeerAfterS: z.number().int().min(1).max(deadPeerAfterSMax).default(deadPeerAfterSDefault),
      })
      .strict()
      .prefault({}),
    dns: z
      .object({
        ttlS: z.number().int().min(0).max(86400).default(dnsTtlSDefault),
        /** Response-rate limiting of UDP answers per source prefix (docs/dns.md). */
        rrl: z
          .object({
            responsesPerS: z.number().int().min(0).max(dnsRrlResponsesPerSMax).default(dnsRrlResponsesPerSDefault),
            slip: z.number().int().min(0).max(dnsRrlSlipMax).default(dnsRrlSlipDefault),
          })
          .strict()
          .prefault({}),
        /** Open DNS-over-TCP connections per source address. */
        tcpConnectionsPerSource: z
          .number()
          .int()
          .min(1)
          .max(dnsTcpConnectionsPerSourceMax)
          .default(dnsTcpConnectionsPerSourceDefault),
        /** The whole-response cache (off only to measure or debug the uncached path). */
        responseCache: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    wan: z
      .object({
        /** emulated: on one machine, every inter-site and region-to-site connection crosses a link proxy; direct: real hosts, dial targets as they are. */
        mode: z.enum(wanModes).default("emulated"),
        routeStretch: z.number().min(1).max(10).default(1.5),
        fiberKmPerMs: z.number().min(1).max(300).default(200),
        /** Extra one-way delay drawn uniformly from [0, jitterMs] per chunk or datagram (bytes never reorder). */
        jitterMs: z.number().min(0).max(jitterMsMax).default(1),
        /** Per link and direction; omitted: no limit. */
        bandwidthMbps: z.number().positive().max(bandwidthMbpsMax).optional(),
        /** Datagrams dropped (UDP), or chunks delayed by a retransmission (TCP), in percent. */
        lossPct: z.number().min(0).max(100).default(0),
      })
      .strict()
      .prefault({}),
    ports: z
      .object({
        store: portSchema.default(portsDefault.store),
        gateway: portSchema.default(portsDefault.gateway),
        dns: portSchema.default(portsDefault.dns),
        app: portSchema.default(portsDefault.app),
        /** The admin endpoint of each site's WAN link process (emulated mode). */
        wan: portSchema.default(portsDefault.wan),
        supervisor: portSchema.default(portsDefault.supervisor),
        /** The dashboard `redshirt up` serves, on the first site's management address (.6.2). */
        dashboard: portSchema.default(portsDefault.dashboard),
      })
      .strict()
      .prefault({}),
    /** Limits and timeouts of every site gateway, and per service its retry choices (gateway-settings.ts). */
    gateway: gatewaySettingsSchema.prefault({}),
    /** Follow the sun: app counts per site by local time of day (sun.ts). */
    sun: sunSchema.optional(),
  })
  .strict()
  .superRefine((planet, ctx) => {
    for (const name of Object.keys(planet.sun?.sites ?? {})) {
      if (!planet.sites.some((s) => s.name === name))
        ctx.addIssue({ code: "custom", path: ["sun", "sites", name], message: "no such site in the planet" });
    }
    const serviceNames = new Set<string>();
    planet.services.forEach((service, i) => {
      const name = typeof service === "string" ? service : service.name;
      if (serviceNames.has(name))
        ctx.addIssue({ code: "custom", path: ["services", i], message: `duplicate service name ${name}` });
      serviceNames.add(name);
    });
    for (const name of Object.keys(planet.gateway.services)) {
      if (!serviceNames.has(name))
        ctx.addIssue({
          code: "custom",
          path: ["gateway", "services", name],
          message: `no such service in the planet (services: ${[...serviceNames].join(", ")})`,
        });
    }
    const seen = new Set<string>();
    const siteNames = new Set(planet.sites.map((s) => s.name));
    const clientNames = new Set<string>();
    planet.clients.forEach((client, j) => {
      // A dialer is named by a site or a region name, so the two must not collide.
      if (siteNames.has(client.name))
        ctx.addIssue({
          code: "custom",
          path: ["clients", j, "name"],
          message: "a client region may not share a site's name",
        });
      else if (clientNames.has(client.name))
        ctx.addIssue({ code: "custom", path: ["clients", j, "name"], message: "duplicate client region name" });
      clientNames.add(client.name);
    });
    planet.sites.forEach((site, i) => {
      if (seen.has(site.name))
        ctx.addIssue({ code: "custom", path: ["sites", i, "name"], message: "duplicate site name" });
      seen.add(site.name);
      if (site.tiers.store < planet.store.rf) {
        ctx.addIssue({
          code: "custom",
          path: ["sites", i, "tiers", "store"],
          message: `a site needs at least rf=${planet.store.rf} store nodes (every site holds all data)`,
        });
      }
    });
  });

export type PlanetInput = z.input<typeof planetSchema>;
type PlanetParsed = z.output<typeof planetSchema>;

export type Site = PlanetParsed["sites"][number] & {
  readonly index: number;
  readonly subnetCidr: Cidr;
};

/** A client region as a dialer on one machine: its own block of addresses (emulated WAN only). */
export type Region = PlanetParsed["clients"][number] & {
  readonly index: number;
  readonly subnetCidr: Cidr;
};

export type NodeInfo = {
  readonly id: string;
  readonly site: string;
  readonly role: Role;
  readonly index: number;
  readonly host: string;
  readonly port: number;
};

/** What the DNS does for a service name. */
export type ServiceOptions = {
  /** Sites listed after the nearest healthy one (0: the nearest only). */
  readonly fallbackSites: number;
};

export type Planet = Omit<PlanetParsed, "sites" | "services"> & {
  /** The service names (one DNS label each), in planet order. */
  readonly services: readonly string[];
  /** Each service's options, by name. */
  readonly serviceOptions: Readonly<Record<string, ServiceOptions>>;
  readonly sites: readonly Site[];
  /** Every store node of the planet, by site then index. */
  readonly storeNodes: readonly NodeInfo[];
  readonly gateways: readonly NodeInfo[];
  readonly dnsServers: readonly NodeInfo[];
  /** The admin (management) endpoint of each DNS server, in the same order: at .7.k, on the DNS port + 1. */
  readonly dnsAdmins: readonly NodeInfo[];
  /** One WAN link process per site (role wan, at .5.1), only when the WAN is emulated. */
  readonly wanProcesses: readonly NodeInfo[];
  /** The client regions with their blocks on this machine, only when the WAN is emulated. */
  readonly regions: readonly Region[];
  /** One supervisor per site (its control API listens here). */
  readonly supervisors: readonly NodeInfo[];
  /** The directory the planet file is in; relative paths in it resolve from here. */
  readonly baseDir: string;
};

function formatPath(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`)).join("");
}

/** Validates an already-parsed planet object. `where` maps a field path to a line. */
export function validatePlanet(
  input: unknown,
  options: { baseDir?: string; where?: (path: PropertyKey[]) => string } = {},
): Planet {
  const result = planetSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const field = formatPath(issue.path) || "(top level)";
      return `${field}${options.where ? options.where(issue.path) : ""}: ${issue.message}`;
    });
    throw topologyErrors.create("RS_ERR_TOPOLOGY_INVALID", lines.join("; "), {
      detail: { issues: result.error.issues.map((i) => ({ field: formatPath(i.path), message: i.message })) },
    });
  }
  return buildPlanet(result.data, options.baseDir ?? process.cwd(), options.where ?? (() => ""));
}

function overlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b.base) || cidrContains(b, a.base);
}

function invalidAt(where: (path: PropertyKey[]) => string, path: PropertyKey[], message: string) {
  return topologyErrors.create("RS_ERR_TOPOLOGY_INVALID", `${formatPath(path)}${where(path)}: ${message}`);
}

/** Each client region's block on this machine: its own subnet, or the next default /16; never a site's. */
function buildRegions(parsed: PlanetParsed, sites: readonly Site[], where: (path: PropertyKey[]) => string): Region[] {
  const regions: Region[] = [];
  parsed.clients.forEach((c, index) => {
    const octet = regionOctetBase + index;
    if (!c.subnet && octet > 255) {
      throw invalidAt(
        where,
        ["clients", index, "subnet"],
        `no default loopback block is left for region ${c.name} (defaults are 127.${regionOctetBase}–127.255); give it a subnet or set wan.mode: direct`,
      );
    }
    const subnetCidr = parseCidr(c.subnet ?? `127.${octet}.0.0/16`);
    if (!subnetCidr) throw invalidAt(where, ["clients", index, "subnet"], "must be an IPv4 CIDR");
    const site = sites.find((s) => overlaps(s.subnetCidr, subnetCidr));
    if (site) {
      throw invalidAt(
        where,
        ["clients", index, "subnet"],
        `region ${c.name}'s block ${subnetCidr.text} overlaps the subnet of site ${site.name}; give the region another subnet`,
      );
    }
    const other = regions.find((r) => overlaps(r.subnetCidr, subnetCidr));
    if (other) {
      throw invalidAt(
        where,
        ["clients", index, "subnet"],
        `region ${c.name}'s block ${subnetCidr.text} overlaps the block of region ${other.name}`,
      );
    }
    regions.push({ ...c, index, subnetCidr });
  });
  return regions;
}

function buildPlanet(parsed: PlanetParsed, baseDir: string, where: (path: PropertyKey[]) => string): Planet {
  const sites: Site[] = parsed.sites.map((s, index) => {
    const subnetCidr = parseCidr(s.subnet ?? `127.${siteOctetBase + index}.0.0/16`);
    if (!subnetCidr) throw topologyErrors.create("RS_ERR_TOPOLOGY_INVALID", `sites[${index}].subnet`);
    return { ...s, index, subnetCidr };
  });
  for (let i = 0; i < sites.length; i++) {
    for (let j = i + 1; j < sites.length; j++) {
      if (overlaps(sites[i].subnetCidr, sites[j].subnetCidr)) {
        throw invalidAt(where, ["sites", j, "subnet"], `overlaps the subnet of site ${sites[i].name}`);
      }
    }
  }
  const emulated = parsed.wan.mode === "emulated";
  const regions = emulated ? buildRegions(parsed, sites, where) : [];
  const nodes = (role: Role, count: (s: Site) => number, port: number): NodeInfo[] =>
    sites.flatMap((site) =>
      Array.from({ length: count(site) }, (_, k) => ({
        id: `${site.name}-${role}${k + 1}`,
        site: site.name,
        role,
        index: k + 1,
        host: roleAddress(site.subnetCidr, role, k + 1),
        port,
      })),
    );
  const serviceOptions: Record<string, ServiceOptions> = {};
  for (const s of parsed.services) {
    if (typeof s === "string") serviceOptions[s] = { fallbackSites: 0 };
    else serviceOptions[s.name] = { fallbackSites: s.fallbackSites };
  }
  const dnsServers = nodes("dns", (s) => s.tiers.dns, parsed.ports.dns);
  return {
    ...parsed,
    services: Object.keys(serviceOptions),
    serviceOptions,
    sites,
    storeNodes: nodes("store", (s) => s.tiers.store, parsed.ports.store),
    gateways: nodes("gateway", (s) => s.tiers.gateway, parsed.ports.gateway),
    dnsServers,
    dnsAdmins: dnsServers.map((d) => {
      const site = sites.find((x) => x.name === d.site)!;
      return {
        id: `${d.id}-admin`,
        site: d.site,
        role: "dnsAdmin" as const,
        index: d.index,
        host: roleAddress(site.subnetCidr, "dnsAdmin", d.index),
        port: parsed.ports.dns + dnsAdminPortOffset,
      };
    }),
    wanProcesses: emulated ? nodes("wan", () => 1, parsed.ports.wan) : [],
    regions,
    supervisors: sites.map((site) => ({
      id: `${site.name}-supervisor`,
      site: site.name,
      role: "supervisor" as const,
      index: 1,
      host: roleAddress(site.subnetCidr, "supervisor", 1),
      port: parsed.ports.supervisor,
    })),
    baseDir,
  };
}

/** Parses and validates planet YAML text; errors name the field and its line. */
export function parsePlanet(text: string, options: { file?: string; baseDir?: string } = {}): Planet {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const label = options.file ?? "planet";
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lineCounter.linePos(e.pos[0]);
    throw topologyErrors.create("RS_ERR_TOPOLOGY_YAML", `${label}:${pos.line}:${pos.col}: ${e.message.split("\n")[0]}`);
  }
  const where = (path: PropertyKey[]): string => {
    // Walk up the path until a node exists (a missing field is reported at its parent).
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as (string | number)[], true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range && (n > 0 || isMap(node))) return ` (${label}:${lineCounter.linePos(range[0]).line})`;
    }
    return "";
  };
  return validatePlanet(doc.toJS(), { baseDir: options.baseDir, where });
}

export function loadPlanet(file: string): Planet {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw topologyErrors.create("RS_ERR_TOPOLOGY_READ", file, { cause });
  }
  const baseDir = file.includes("/") ? file.slice(0, file.lastIndexOf("/")) : ".";
  return parsePlanet(text, { file, baseDir });
}

export function siteByName(planet: Planet, name: string): Site | undefined {
  return planet.sites.find((s) => s.name === name);
}

export function storeNode(planet: Planet, id: string): NodeInfo {
  const node = planet.storeNodes.find((n) => n.id === id);
  if (!node) {
    throw topologyErrors.create(
      "RS_ERR_TOPOLOGY_UNKNOWN_NODE",
      `${id} (known: ${planet.storeNodes.map((n) => n.id).join(", ")})`,
    );
  }
  return node;
}

/**
 * A store node by id: one of the planet file's, or a node added later by `redshirt store
 * join` under the same naming (`<site>-store<k>`, k up to storeNodesPerSiteMax), whose
 * address follows the address plan. Undefined when the id fits neither.
 */
export function storeNodeById(planet: Planet, id: string): NodeInfo | undefined {
  const known = planet.storeNodes.find((n) => n.id === id);
  if (known) return known;
  const m = /^(.+)-store([1-9][0-9]?)$/.exec(id);
  if (!m) return undefined;
  const site = siteByName(planet, m[1]);
  const index = Number(m[2]);
  if (!site || index > storeNodesPerSiteMax) return undefined;
  return {
    id,
    site: site.name,
    role: "store",
    index,
    host: roleAddress(site.subnetCidr, "store", index),
    port: planet.ports.store,
  };
}

/** The admin (management) endpoint of a DNS server of the planet. */
export function dnsAdminOf(planet: Planet, dnsServer: NodeInfo): NodeInfo {
  const admin = planet.dnsAdmins.find((a) => a.site === dnsServer.site && a.index === dnsServer.index);
  if (!admin)
    throw topologyErrors.create("RS_ERR_TOPOLOGY_UNKNOWN_NODE", `${dnsServer.id} is no DNS server of the planet`);
  return admin;
}

export function siteDistanceKm(a: LatLon, b: LatLon): number {
  return greatCircleKm(a, b);
}

/** RTT between two sites of the planet, from their distance. */
export function siteRttMs(planet: Planet, a: string, b: string): number {
  const sa = siteByName(planet, a);
  const sb = siteByName(planet, b);
  if (!sa || !sb) throw topologyErrors.create("RS_ERR_TOPOLOGY_INVALID", `unknown site ${!sa ? a : b}`);
  return rttMsForKm(greatCircleKm(sa, sb), planet.wan);
}

/** Sites ordered by distance from a point, nearest first (ties by planet order). */
export function sitesByDistance(planet: Planet, from: LatLon): Site[] {
  return [...planet.sites].sort((x, y) => greatCircleKm(from, x) - greatCircleKm(from, y) || x.index - y.index);
}

/** The location of a client address: the most specific client network, else the site whose subnet holds it. */
export function locateClient(
  planet: Planet,
  ipText: string,
): { name: string; at: LatLon; prefixLength: number } | undefined {
  const ip = parseIpv4(ipText);
  if (ip === undefined) return undefined;
  let best: { name: string; at: LatLon; prefixLength: number } | undefined;
  for (const c of planet.clients) {
    const cidr = parseCidr(c.cidr);
    if (cidr && cidrContains(cidr, ip) && (!best || cidr.prefixLength > best.prefixLength)) {
      best = { name: c.name, at: c, prefixLength: cidr.prefixLength };
    }
  }
  if (best) return best;
  for (const s of planet.sites) {
    if (cidrContains(s.subnetCidr, ip)) return { name: s.name, at: s, prefixLength: s.subnetCidr.prefixLength };
  }
  return undefined;
}
