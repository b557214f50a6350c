// The registry's Prometheus metrics, shared by every lease holder and watcher of a process
// (one set of names per registry; holders and watchers add their labels). A failed write
// or read is never silent: it is counted here and logged by whoever met it.
import { type Counter, type Gauge, Registry } from "../../core/index.ts";

type LiveSource = () => [Record<string, string>, number];

export class RegistryMetrics {
  readonly registry: Registry;
  /** Lease writes by kind (start, beat, state, remove) and result (ok, failed). */
  readonly writes: Counter;
  /** Registry and drain-set reads by key (registry, drain) and result (ok, failed, invalid). */
  readonly reads: Counter;
  /** Registry fields that are not a lease of this site (skipped). */
  readonly invalidFields: Counter;
  /** Stale fields removed by watchers, by result. */
  readonly cleanups: Counter;
  /** Live leases per site, as each watcher sees them. */
  readonly live: Gauge;
  readonly #liveSources = new Set<LiveSource>();

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.writes = registry.counter("rs_registry_lease_writes_total", "Lease writes, by kind and result.");
    this.reads = registry.counter("rs_registry_reads_total", "Registry and drain-set reads, by key and result.");
    this.invalidFields = registry.counter(
      "rs_registry_invalid_fields_total",
      "Registry fields skipped because they are not a valid lease of the site.",
    );
    this.cleanups = registry.counter(
      "rs_registry_cleanups_total",
      "Stale registry fields removed by a watcher, by result.",
    );
    this.live = registry.gauge("rs_registry_leases_live", "Live leases per site, as this process's watchers see them.");
    this.live.collect(() => [...this.#liveSources].map((fn) => fn()));
  }

  /** A watcher reports its live count through this; returns the function that unregisters it. */
  addLiveSource(fn: LiveSource): () => void {
    this.#liveSources.add(fn);
    return () => this.#liveSources.delete(fn);
  }

  render(): string {
    return this.registry.render();
  }
}
