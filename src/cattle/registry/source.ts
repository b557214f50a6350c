// The registry as a gateway's instance source: the live app leases of the watcher's site,
// with draining taken from the lease (the instance said so) or the drain set (the
// supervisor asked), and starting leases listed but kept out of rotation until they are
// ready. The gateway's own health checks still decide who gets traffic.
import type { InstanceInfo, InstanceSource } from "../../traffic/index.ts";
import type { LeaseTier } from "./lease.ts";
import type { RegistryWatcher } from "./watcher.ts";

export type RegistryInstanceSourceOptions = {
  /** Which tier's leases are the candidates (default "app"). */
  readonly tier?: LeaseTier;
  /** Start and stop the watcher with the source (default true). */
  readonly ownsWatcher?: boolean;
};

export class RegistryInstanceSource implements InstanceSource {
  readonly watcher: RegistryWatcher;
  readonly #tier: LeaseTier;
  readonly #owns: boolean;
  #list: InstanceInfo[] = [];

  constructor(watcher: RegistryWatcher, options: RegistryInstanceSourceOptions = {}) {
    this.watcher = watcher;
    this.#tier = options.tier ?? "app";
    this.#owns = options.ownsWatcher ?? true;
    watcher.subscribe(() => this.#rebuild());
  }

  async start(): Promise<void> {
    if (this.#owns) await this.watcher.start();
    this.#rebuild();
  }

  async stop(): Promise<void> {
    if (this.#owns) await this.watcher.stop();
  }

  instances(): readonly InstanceInfo[] {
    return this.#list;
  }

  subscribe(fn: () => void): () => void {
    return this.watcher.subscribe(fn);
  }

  describe(): Readonly<Record<string, unknown>> {
    return { kind: "registry", ...this.watcher.status() };
  }

  #rebuild(): void {
    const drained = this.watcher.drained();
    const out: InstanceInfo[] = [];
    for (const l of this.watcher.leases()) {
      if (l.tier !== this.#tier) continue;
      const byLease = l.state === "draining";
      const bySet = drained.has(l.id);
      out.push({
        id: l.id,
        host: l.host,
        port: l.port,
        draining: byLease || bySet,
        ...(byLease ? { drainReason: "lease" as const } : bySet ? { drainReason: "drain-set" as const } : {}),
        starting: l.state === "starting",
        version: l.version,
      });
    }
    this.#list = out;
  }
}
