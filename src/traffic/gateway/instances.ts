// Where the candidate app instances come from. The gateway never depends on a central
// registry that can die: a source keeps the last set it knew, and the gateway's own health
// checks decide who gets traffic. In production the source is the site's registry in the
// store (instances hold leases kept alive by heartbeats; src/cattle/registry adapts its
// watcher to this interface). The planet's address plan (instance k of a site at .4.k) is
// the explicit static choice for tests and benchmarks that run no store.
import type { Startable } from "../../core/index.ts";
import { type Planet, roleAddress, siteByName } from "../../topology/index.ts";
import { gatewayErrors } from "./errors.ts";

export type InstanceInfo = {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** Marked for removal: finishes what it has, gets nothing new. */
  readonly draining: boolean;
  /** Who asked for the drain: the instance's own lease, the supervisor's drain set, or a caller. */
  readonly drainReason?: "lease" | "drain-set" | "manual";
  /** Registered but not ready yet: health-checked, never sent a request. */
  readonly starting?: boolean;
  readonly version?: string;
};

export interface InstanceSource extends Startable {
  /** The current candidates: the last set known, even while the source's backing store is unreachable. */
  instances(): readonly InstanceInfo[];
  /** Calls fn after the set or a draining mark changed; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void;
  /** What the source is and how fresh its view is, for /_redshirt/backends. */
  describe(): Readonly<Record<string, unknown>>;
}

/** The app instances of one site from the planet's address plan; draining set by hand. */
export class PlanetInstanceSource implements InstanceSource {
  readonly #list: InstanceInfo[];
  readonly #listeners = new Set<() => void>();

  constructor(planet: Planet, siteName: string) {
    const site = siteByName(planet, siteName);
    if (!site) throw gatewayErrors.create("RS_ERR_TRAFFIC_GATEWAY_UNKNOWN_SITE", siteName);
    this.#list = Array.from({ length: site.tiers.app }, (_, k) => ({
      id: `${site.name}-app${k + 1}`,
      host: roleAddress(site.subnetCidr, "app", k + 1),
      port: planet.ports.app,
      draining: false,
    }));
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  instances(): readonly InstanceInfo[] {
    return this.#list;
  }

  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  describe(): Readonly<Record<string, unknown>> {
    return { kind: "static", instances: this.#list.length };
  }

  /** Marks an instance draining (or not); returns false when no such instance. */
  setDraining(id: string, draining: boolean): boolean {
    const i = this.#list.findIndex((x) => x.id === id);
    if (i < 0) return false;
    const { drainReason: _, ...rest } = this.#list[i];
    this.#list[i] = draining ? { ...rest, draining, drainReason: "manual" } : { ...rest, draining };
    for (const fn of this.#listeners) fn();
    return true;
  }
}
