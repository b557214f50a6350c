// A typed client of the link processes' admin endpoints, for the CLI, the control API and
// tests. A directed link from → to is hosted by from's link process when from is a site
// (its outbound link), else by to's (a region's access link); "between" operations act on
// both directions of a pair.
import { Agent, request } from "undici";
import { controlBearerToken } from "../core/index.ts";
import { type HostPort, type Planet, siteByName } from "../topology/index.ts";
import type { LinkListing } from "./admin.ts";
import { wanAdminPrefix } from "./admin.ts";
import { adminTimeoutMsDefault } from "./constants.ts";
import { wanErrors } from "./errors.ts";
import type { LinkSlow, LinkStatus, LinkTtl } from "./link.ts";

export type WanAdminClientOptions = {
  readonly planet: Planet;
  readonly secret: Buffer;
  readonly timeoutMs?: number;
  /** Where a site's link process serves its admin endpoint (default: the address plan). */
  readonly address?: (site: string) => HostPort;
};

/** The site whose link process hosts the directed link from → to. */
export function linkHostSite(planet: Planet, from: string, to: string): string {
  if (!siteByName(planet, to)) {
    throw wanErrors.create("RS_ERR_WAN_UNKNOWN_LINK", `${from}->${to}: a link goes to a site, and ${to} is not one`);
  }
  return siteByName(planet, from) ? from : to;
}

/** The directed links between a and b that exist: both ways between sites, one way from a region. */
export function linksBetween(planet: Planet, a: string, b: string): Array<{ from: string; to: string }> {
  const out: Array<{ from: string; to: string }> = [];
  if (siteByName(planet, b)) out.push({ from: a, to: b });
  if (siteByName(planet, a)) out.push({ from: b, to: a });
  if (out.length === 0) throw wanErrors.create("RS_ERR_WAN_UNKNOWN_LINK", `${a} and ${b}: neither is a site`);
  return out;
}

export class WanAdminClient {
  readonly #o: WanAdminClientOptions;
  readonly #token: string;
  readonly #agent = new Agent({ keepAliveTimeout: 2_000, connections: 4 });

  constructor(options: WanAdminClientOptions) {
    this.#o = options;
    this.#token = controlBearerToken(options.secret);
  }

  #address(site: string): HostPort {
    if (this.#o.address) return this.#o.address(site);
    const w = this.#o.planet.wanProcesses.find((x) => x.site === site);
    if (!w) {
      throw wanErrors.create(
        this.#o.planet.wan.mode === "direct" ? "RS_ERR_WAN_DIRECT" : "RS_ERR_WAN_UNKNOWN_SITE",
        `no link process for ${JSON.stringify(site)} in planet ${this.#o.planet.name}`,
      );
    }
    return { host: w.host, port: w.port };
  }

  async #call<T>(site: string, method: "GET" | "POST", op: string, body?: unknown): Promise<T> {
    const { host, port } = this.#address(site);
    const timeoutMs = this.#o.timeoutMs ?? adminTimeoutMsDefault;
    const url = `http://${host}:${port}${wanAdminPrefix}${op}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        dispatcher: this.#agent,
        // Admin calls are rare: a fresh connection each time, so none races the server's
        // idle close (undici would send on a socket the server is closing: "other side closed").
        reset: true,
        headers: { authorization: `Bearer ${this.#token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (cause) {
      throw wanErrors.create("RS_ERR_WAN_ADMIN", `${method} ${url}: ${(cause as Error).message}`, { cause });
    }
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = op === "metrics" ? text : JSON.parse(text);
    } catch (cause) {
      throw wanErrors.create("RS_ERR_WAN_ADMIN", `${method} ${url}: answered ${res.statusCode}, not JSON`, { cause });
    }
    if (res.statusCode !== 200) {
      const e = (parsed as { error?: { code?: string; message?: string } }).error;
      throw wanErrors.create("RS_ERR_WAN_ADMIN", `${method} ${url}: ${res.statusCode} ${e?.code}: ${e?.message}`, {
        detail: { status: res.statusCode, code: e?.code },
      });
    }
    return parsed as T;
  }

  /** The links one site's link process hosts. */
  links(site: string): Promise<LinkListing> {
    return this.#call<LinkListing>(site, "GET", "links");
  }

  /** Every link of the planet, from every site's link process. */
  async allLinks(): Promise<LinkStatus[]> {
    const listings = await Promise.all(this.#o.planet.wanProcesses.map((w) => this.links(w.site)));
    return listings.flatMap((l) => l.links);
  }

  metrics(site: string): Promise<string> {
    return this.#call<string>(site, "GET", "metrics");
  }

  /** Cuts the directed link from → to. */
  async cut(from: string, to: string, ttl?: LinkTtl): Promise<LinkStatus> {
    const r = await this.#call<{ link: LinkStatus }>(linkHostSite(this.#o.planet, from, to), "POST", "cut", {
      from,
      to,
      ...ttl,
    });
    return r.link;
  }

  async heal(from: string, to: string): Promise<LinkStatus> {
    const r = await this.#call<{ link: LinkStatus }>(linkHostSite(this.#o.planet, from, to), "POST", "heal", {
      from,
      to,
    });
    return r.link;
  }

  async slow(from: string, to: string, change: LinkSlow, ttl?: LinkTtl): Promise<LinkStatus> {
    const r = await this.#call<{ link: LinkStatus }>(linkHostSite(this.#o.planet, from, to), "POST", "slow", {
      from,
      to,
      ...change,
      ...ttl,
    });
    return r.link;
  }

  /** Lifts a slow that has a ttl: the settings from before it come back. */
  async unslow(from: string, to: string): Promise<LinkStatus> {
    const host = linkHostSite(this.#o.planet, from, to);
    const r = await this.#call<{ link: LinkStatus }>(host, "POST", "unslow", { from, to });
    return r.link;
  }

  /** Partitions a from b: every link between them, both ways. */
  cutBetween(a: string, b: string, ttl?: LinkTtl): Promise<LinkStatus[]> {
    return Promise.all(linksBetween(this.#o.planet, a, b).map((l) => this.cut(l.from, l.to, ttl)));
  }

  healBetween(a: string, b: string): Promise<LinkStatus[]> {
    return Promise.all(linksBetween(this.#o.planet, a, b).map((l) => this.heal(l.from, l.to)));
  }

  slowBetween(a: string, b: string, change: LinkSlow, ttl?: LinkTtl): Promise<LinkStatus[]> {
    return Promise.all(linksBetween(this.#o.planet, a, b).map((l) => this.slow(l.from, l.to, change, ttl)));
  }

  unslowBetween(a: string, b: string): Promise<LinkStatus[]> {
    return Promise.all(linksBetween(this.#o.planet, a, b).map((l) => this.unslow(l.from, l.to)));
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }
}
