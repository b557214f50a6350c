// The address plan. Each site is its own Layer 3 island: on one machine, its own
// 127.x.0.0/16 on loopback; on many, its own routed subnet. Within a site, each role has
// its own /24 so an address says what it is:
//   .1.k store node k   .2.k gateway k   .3.k DNS server k   .4.k app instance k
//   .5.1 the site's WAN link process (its admin endpoint; only when the WAN is emulated)
//   .6.1 the site's supervisor (its control API)   .6.2 the dashboard (first site only, `redshirt up`)
//   .7.k the admin (management) endpoint of DNS server k: weights, views, metrics. Never
//        the public DNS address .3.k, so a firewall that lets users reach .3.k (and .2.k)
//        keeps the planet's steering controls off the public network.
// Third octets from 128 up hold the link proxies of the emulated WAN (see dial.ts).
// Ports are the same in every site; the address, never the port, says which site.

export const roleOctet = { store: 1, gateway: 2, dns: 3, app: 4, wan: 5, supervisor: 6, dnsAdmin: 7 } as const;
export type Role = keyof typeof roleOctet;

export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

export type Cidr = { readonly base: number; readonly prefixLength: number; readonly text: string };

export function parseCidr(text: string): Cidr | undefined {
  const [addr, len, extra] = text.split("/");
  if (extra !== undefined || len === undefined || !/^\d{1,2}$/.test(len)) return undefined;
  const prefixLength = Number(len);
  const ip = parseIpv4(addr);
  if (ip === undefined || prefixLength > 32) return undefined;
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return { base: (ip & mask) >>> 0, prefixLength, text: `${formatIpv4((ip & mask) >>> 0)}/${prefixLength}` };
}

export function cidrContains(cidr: Cidr, ip: number): boolean {
  const mask = cidr.prefixLength === 0 ? 0 : (0xffffffff << (32 - cidr.prefixLength)) >>> 0;
  return (ip & mask) >>> 0 === cidr.base;
}

/** The address of the index-th (1-based) process of a role inside a site's /16. */
export function roleAddress(siteSubnet: Cidr, role: Role, index: number): string {
  return formatIpv4((siteSubnet.base | (roleOctet[role] << 8) | index) >>> 0);
}
