// Where a client is, and for how wide a block of addresses that answer holds. The client
// is located as topology's locateClient does (the most specific client network, else the
// site subnet holding it), using only the address bits the client gave us: an ECS option
// of 10.3.0.0/16 cannot match a /24 inside it.
//
// The ECS scope says to a resolver "this answer is good for every client in this block".
// It must not be wider than the block in which every address gets the same location,
// otherwise a resolver reuses, say, the default answer for clients we do know. So the
// scope is the decision network's prefix, lengthened only when a known network nearby
// would otherwise fall inside the block. Unknown clients get the widest block holding no
// known network (never /0 while the planet knows any network).

import type { LatLon } from "../../topology/index.ts";
import { type Planet, parseCidr } from "../../topology/index.ts";

export type Network = {
  readonly name: string;
  readonly base: number;
  readonly prefixLength: number;
  readonly at: LatLon;
};

export type Locator = {
  /** The planet's client networks, tried first. */
  readonly clients: readonly Network[];
  /** The site subnets, tried when no client network holds the address. */
  readonly sites: readonly Network[];
};

export type Located = {
  /** The network the decision used, or undefined for an unknown client. */
  readonly network: Network | undefined;
  /** The ECS scope prefix length the answer is valid for. */
  readonly scopePrefixLength: number;
};

export function buildLocator(planet: Planet): Locator {
  const clients = planet.clients.map((c) => {
    const cidr = parseCidr(c.cidr);
    if (!cidr) throw new Error(`unreachable: the planet validated client cidr ${c.cidr}`);
    return { name: c.name, base: cidr.base, prefixLength: cidr.prefixLength, at: { lat: c.lat, lon: c.lon } };
  });
  const sites = planet.sites.map((s) => ({
    name: s.name,
    base: s.subnetCidr.base,
    prefixLength: s.subnetCidr.prefixLength,
    at: { lat: s.lat, lon: s.lon },
  }));
  return { clients, sites };
}

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function contains(n: Network, ip: number): boolean {
  return (ip & maskOf(n.prefixLength)) >>> 0 === n.base;
}

/** Number of leading bits two addresses share. */
function commonPrefixLength(a: number, b: number): number {
  const x = (a ^ b) >>> 0;
  return x === 0 ? 32 : Math.clz32(x);
}

function mostSpecific(list: readonly Network[], ip: number, knownBits: number): Network | undefined {
  let best: Network | undefined;
  for (const n of list) {
    if (n.prefixLength <= knownBits && contains(n, ip) && (!best || n.prefixLength > best.prefixLength)) best = n;
  }
  return best;
}

/**
 * Locates an IPv4 address of which the first `knownBits` bits are known (32 for a source
 * address, the ECS source prefix otherwise; the other bits must be zero).
 */
export function locate(locator: Locator, ip: number, knownBits: number): Located {
  const network = mostSpecific(locator.clients, ip, knownBits) ?? mostSpecific(locator.sites, ip, knownBits);
  // Every network either holds the whole block or none of it: a network holding the
  // address needs the block inside it (scope ≥ its prefix); any other network needs the
  // block to end before it (scope past the bits they share).
  let scope = network?.prefixLength ?? 0;
  for (const list of [locator.clients, locator.sites]) {
    for (const n of list) {
      const need = contains(n, ip) ? n.prefixLength : commonPrefixLength(ip, n.base) + 1;
      if (need > scope) scope = need;
    }
  }
  return { network, scopePrefixLength: Math.min(scope, 32) };
}
