// A site's link process: every link the site hosts (its outbound links to the other sites,
// and the access links from every client region to it), each on its proxy addresses from
// the topology's address plan, and the authenticated admin endpoint that lists and changes
// them. One per site, started before anything else of the site.
import { createServer, type Server } from "node:http";
import type { Clock, Logger, Random, Startable } from "../core/index.ts";
import { type HostPort, type Planet, siteByName, siteLinks } from "../topology/index.ts";
import { handleAdmin } from "./admin.ts";
import { wanErrors } from "./errors.ts";
import { Link, type LinkSlow, type LinkStatus, type LinkTtl } from "./link.ts";
import { WanMetrics } from "./metrics.ts";

export type WanNodeOptions = {
  readonly planet: Planet;
  readonly site: string;
  /** The planet secret; the admin endpoint takes only its control token. */
  readonly secret: Buffer;
  /** Overrides the admin address from the address plan (tests). */
  readonly adminListen?: HostPort;
};

export type WanNodeComponents = { readonly clock: Clock; readonly random: Random; readonly log: Logger };

export class WanNode implements Startable {
  readonly site: string;
  readonly secret: Buffer;
  readonly metrics: WanMetrics;
  readonly log: Logger;
  readonly #links = new Map<string, Link>();
  readonly #adminListen: HostPort;
  #server: Server | undefined;
  #started = false;
  #stopped = false;

  constructor(options: WanNodeOptions, components: WanNodeComponents) {
    const { planet } = options;
    if (planet.wan.mode !== "emulated") throw wanErrors.create("RS_ERR_WAN_DIRECT", `planet ${planet.name}`);
    const self = planet.wanProcesses.find((w) => w.site === options.site);
    if (!siteByName(planet, options.site) || !self) {
      throw wanErrors.create(
        "RS_ERR_WAN_UNKNOWN_SITE",
        `${JSON.stringify(options.site)} is not a site of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
      );
    }
    this.site = options.site;
    this.secret = options.secret;
    this.log = components.log;
    this.#adminListen = options.adminListen ?? { host: self.host, port: self.port };
    this.metrics = new WanMetrics(
      () =>
        this.links().map((l) => {
          const s = l.status();
          return {
            link: s.id,
            open: s.connections.open,
            udpSessions: s.udpSessions,
            cut: s.cut,
            delayMs: s.rttMs / 2,
            queuedBytes: s.queuedBytes,
          };
        }),
      () => {
        for (const l of this.links()) l.flushMetrics();
      },
    );
    const defaults = {
      jitterMs: planet.wan.jitterMs,
      bandwidthMbps: planet.wan.bandwidthMbps ?? null,
      lossPct: planet.wan.lossPct,
    };
    for (const plan of siteLinks(planet, options.site)) {
      this.#links.set(plan.id, new Link(plan, defaults, components, this.metrics));
    }
  }

  links(): Link[] {
    return [...this.#links.values()];
  }

  list(): LinkStatus[] {
    return this.links().map((l) => l.status());
  }

  /** The link from → to, or an error naming the links this process hosts. */
  link(from: string, to: string): Link {
    const link = this.#links.get(`${from}->${to}`);
    if (!link) {
      throw wanErrors.create(
        "RS_ERR_WAN_UNKNOWN_LINK",
        `${from}->${to} (site ${this.site} hosts ${[...this.#links.keys()].join(", ") || "none"})`,
      );
    }
    return link;
  }

  cut(from: string, to: string, ttl?: LinkTtl): LinkStatus {
    const l = this.link(from, to);
    l.cut(ttl);
    return l.status();
  }

  heal(from: string, to: string): LinkStatus {
    const l = this.link(from, to);
    l.heal();
    return l.status();
  }

  slow(from: string, to: string, change: LinkSlow, ttl?: LinkTtl): LinkStatus {
    const l = this.link(from, to);
    l.slow(change, ttl);
    return l.status();
  }

  /** Lifts a slow that has a ttl (the settings before it come back). */
  unslow(from: string, to: string): LinkStatus {
    const l = this.link(from, to);
    l.unslow();
    return l.status();
  }

  /** The admin endpoint's address (the port actually bound). */
  get adminAddress(): HostPort {
    const a = this.#server?.address();
    return typeof a === "object" && a !== null ? { host: a.address, port: a.port } : this.#adminListen;
  }

  get listenerCount(): number {
    return this.links().reduce((n, l) => n + l.plan.listeners.length, 0);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      await Promise.all(this.links().map((l) => l.start()));
      await this.#listenAdmin();
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.log.info("wan links up", {
      site: this.site,
      links: this.links().map((l) => `${l.id} ${l.shaper.delayMs.toFixed(1)} ms`),
      listeners: this.listenerCount,
      admin: `${this.adminAddress.host}:${this.adminAddress.port}`,
    });
  }

  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    const server = this.#server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    server?.closeAllConnections();
    await Promise.all(this.links().map((l) => l.stop()));
    await closed;
  }

  #listenAdmin(): Promise<void> {
    const server = createServer((req, res) => handleAdmin(this, req, res));
    this.#server = server;
    const { host, port } = this.#adminListen;
    return new Promise((resolve, reject) => {
      server.once("error", (cause) =>
        reject(wanErrors.create("RS_ERR_WAN_LISTEN", `admin ${host}:${port}`, { cause })),
      );
      server.listen({ host, port }, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.log.error("admin listener error", { err }));
        resolve();
      });
    });
  }
}
