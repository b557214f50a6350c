// Watches one site's registry: reads `_rs/registry/<site>` and the drain set
// `_rs/drain/<site>` every pollMs, and reports the live leases (LeaseTable judges them on
// this watcher's clock) and the ids the supervisor wants out of rotation. A read that fails
// keeps the last view (fail static: a store hiccup must not empty a gateway) and is counted
// and logged. Fields nobody renewed for cleanupAfterMs are removed by the watcher that sees
// them, a few per poll, so dead instances do not pile up in the map.
import type { Clock, Logger, Startable, TimerHandle } from "../../core/index.ts";
import type { ReadResult, StoreCallOptions, StoreWriteOptions, StoreWriteOutcome } from "../../store/index.ts";
import {
  cleanupAfterTtls,
  cleanupFieldsPerPollMax,
  leasesPerSiteMax,
  leaseTtlMsDefault,
  pollMsDefault,
  readConsistency,
  readTimeoutMsDefault,
  writeConsistency,
  writeTimeoutMsDefault,
} from "./constants.ts";
import { drainKey, type Lease, parseLease, registryKey } from "./lease.ts";
import { RegistryMetrics } from "./metrics.ts";
import { LeaseTable } from "./table.ts";

/** What the registry needs of a store client (the store's own `StoreClient` fits). */
export interface RegistryStore {
  get(key: string, options?: StoreCallOptions): Promise<ReadResult>;
  mutate(
    key: string,
    mutation: { kind: "mset"; fields: Record<string, unknown> } | { kind: "mdel"; fields: readonly string[] },
    options?: StoreWriteOptions,
  ): Promise<StoreWriteOutcome>;
}

export type RegistryWatcherOptions = {
  readonly site: string;
  readonly pollMs?: number;
  readonly leaseTtlMs?: number;
  /** Remove fields unchanged this long (default 10 × leaseTtlMs); 0 turns cleanup off. */
  readonly cleanupAfterMs?: number;
  readonly readTimeoutMs?: number;
};

export type RegistryWatcherComponents = {
  readonly store: RegistryStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics?: RegistryMetrics;
};

export type WatcherStatus = {
  readonly site: string;
  /** Our clock's ms since the last good registry read; null before the first. */
  readonly lastReadAgoMs: number | null;
  readonly consecutiveReadFailures: number;
  readonly live: number;
};

export class RegistryWatcher implements Startable {
  readonly site: string;
  readonly pollMs: number;
  readonly leaseTtlMs: number;
  readonly metrics: RegistryMetrics;
  readonly #c: RegistryWatcherComponents;
  readonly #cleanupAfterMs: number;
  readonly #readTimeoutMs: number;
  readonly #table: LeaseTable;
  readonly #listeners = new Set<() => void>();
  #drained: ReadonlySet<string> = new Set();
  #timer: TimerHandle | undefined;
  #running = false;
  #polling: Promise<void> | undefined;
  #cleaning = false;
  readonly #unregisterLive: () => void;
  #lastReadOkMs: number | undefined;
  #failures = 0;
  /** Fields already logged as invalid (bounded), so a bad writer is logged once, counted always. */
  readonly #loggedInvalid = new Set<string>();
  /**
   * Fields that are not leases, with their value as last read and since when (our clock) it
   * has not changed: a field that keeps changing may be a newer writer's format and is left
   * alone; one that never changes is cleaned up like a dead lease.
   */
  readonly #junk = new Map<string, { raw: string; sinceMs: number }>();

  constructor(options: RegistryWatcherOptions, components: RegistryWatcherComponents) {
    this.site = options.site;
    this.pollMs = options.pollMs ?? pollMsDefault;
    this.leaseTtlMs = options.leaseTtlMs ?? leaseTtlMsDefault;
    this.#cleanupAfterMs = options.cleanupAfterMs ?? this.leaseTtlMs * cleanupAfterTtls;
    this.#readTimeoutMs = options.readTimeoutMs ?? readTimeoutMsDefault;
    this.#c = components;
    this.metrics = components.metrics ?? new RegistryMetrics();
    this.#table = new LeaseTable({
      leaseTtlMs: this.leaseTtlMs,
      cleanupAfterMs: this.#cleanupAfterMs > 0 ? this.#cleanupAfterMs : Number.POSITIVE_INFINITY,
    });
    this.#unregisterLive = this.metrics.addLiveSource(() => [{ site: this.site }, this.#table.live().length]);
  }

  /** Reads once (a failure leaves the view empty and is counted), then keeps polling. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#poll();
  }

  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#unregisterLive();
    await this.#polling;
  }

  /** The live leases (every tier), by id. */
  leases(): readonly Lease[] {
    return this.#table.live();
  }

  /** Instance ids in the site's drain set: the supervisor wants them out of rotation. */
  drained(): ReadonlySet<string> {
    return this.#drained;
  }

  /** Calls fn after the live leases or the drain set changed; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  status(): WatcherStatus {
    const nowMs = this.#c.clock.monoMs();
    return {
      site: this.site,
      lastReadAgoMs: this.#lastReadOkMs === undefined ? null : Math.round(nowMs - this.#lastReadOkMs),
      consecutiveReadFailures: this.#failures,
      live: this.#table.live().length,
    };
  }

  /** Reads now instead of at the next tick (tests, and a caller that knows something changed). */
  pollNow(): Promise<void> {
    return this.#polling ?? this.#poll();
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    this.#timer = this.#c.clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      void this.#poll();
    });
  }

  #poll(): Promise<void> {
    const startMs = this.#c.clock.monoMs();
    this.#timer?.cancel();
    this.#timer = undefined;
    const p = (async () => {
      const [leasesChanged, drainChanged] = await Promise.all([this.#readRegistry(), this.#readDrain()]);
      if (leasesChanged || drainChanged) for (const fn of this.#listeners) fn();
      this.#cleanup();
    })().finally(() => {
      this.#polling = undefined;
      const elapsedMs = this.#c.clock.monoMs() - startMs;
      this.#schedule(Math.max(0, this.pollMs - elapsedMs));
    });
    this.#polling = p;
    return p;
  }

  async #readRegistry(): Promise<boolean> {
    const key = registryKey(this.site);
    let r: ReadResult;
    try {
      r = await this.#c.store.get(key, { consistency: readConsistency, timeoutMs: this.#readTimeoutMs });
    } catch (err) {
      return this.#readFailed("registry", "failed", err);
    }
    if (r.exists && r.type !== "map")
      return this.#readFailed("registry", "invalid", `${key} is a ${r.type}, not a map`);
    this.metrics.reads.inc({ key: "registry", result: "ok" });
    const fields = r.exists ? ((r.value ?? {}) as Record<string, unknown>) : {};
    const nowMs = this.#c.clock.monoMs();
    const leases = new Map<string, Lease>();
    const junk = new Set<string>();
    const noteJunk = (field: string, value: unknown, reason: string): void => {
      junk.add(field);
      const raw = JSON.stringify(value) ?? "";
      const seen = this.#junk.get(field);
      if (seen?.raw !== raw && this.#junk.size < leasesPerSiteMax) this.#junk.set(field, { raw, sinceMs: nowMs });
      this.#invalid(field, reason);
    };
    for (const [field, value] of Object.entries(fields)) {
      if (leases.size >= leasesPerSiteMax) {
        this.#invalid(field, `more than ${leasesPerSiteMax} leases in site ${this.site}`);
        continue;
      }
      const parsed = parseLease(value);
      if (!parsed.ok) noteJunk(field, value, parsed.reason);
      else if (parsed.lease.id !== field) noteJunk(field, value, `the lease names id ${parsed.lease.id}`);
      else if (parsed.lease.site !== this.site) noteJunk(field, value, `the lease names site ${parsed.lease.site}`);
      else leases.set(field, parsed.lease);
    }
    for (const field of [...this.#junk.keys()]) if (!junk.has(field)) this.#junk.delete(field);
    if (this.#failures > 0) this.#c.log.info("registry readable again", { site: this.site, after: this.#failures });
    this.#failures = 0;
    this.#lastReadOkMs = nowMs;
    return this.#table.observe(leases, nowMs);
  }

  #readFailed(key: "registry" | "drain", result: "failed" | "invalid", why: unknown): false {
    this.metrics.reads.inc({ key, result });
    if (key === "registry") {
      this.#table.readFailed();
      this.#failures++;
      // Log the first failure of a run and then every 20th, so an outage is visible but not a flood.
      if (this.#failures === 1 || this.#failures % 20 === 0) {
        this.#c.log.warn("registry read failed; keeping the last view", {
          site: this.site,
          result,
          failures: this.#failures,
          err: why,
        });
      }
    } else {
      this.#c.log.warn("drain set read failed; keeping the last one", { site: this.site, result, err: why });
    }
    return false;
  }

  #invalid(field: string, reason: string): void {
    this.metrics.invalidFields.inc({ site: this.site });
    if (this.#loggedInvalid.size < leasesPerSiteMax && !this.#loggedInvalid.has(field)) {
      this.#loggedInvalid.add(field);
      this.#c.log.warn("registry field is not a lease of this site; skipped", { site: this.site, field, reason });
    }
  }

  async #readDrain(): Promise<boolean> {
    const key = drainKey(this.site);
    let r: ReadResult;
    try {
      r = await this.#c.store.get(key, { consistency: readConsistency, timeoutMs: this.#readTimeoutMs });
    } catch (err) {
      return this.#readFailed("drain", "failed", err);
    }
    if (r.exists && r.type !== "set") return this.#readFailed("drain", "invalid", `${key} is a ${r.type}, not a set`);
    this.metrics.reads.inc({ key: "drain", result: "ok" });
    const next = new Set(r.exists ? ((r.value ?? []) as string[]) : []);
    const prev = this.#drained;
    if (next.size === prev.size && [...next].every((id) => prev.has(id))) return false;
    this.#drained = next;
    return true;
  }

  /** Removes a few stale fields in the background; one cleanup at a time. */
  #cleanup(): void {
    if (this.#cleaning || !this.#running || this.#cleanupAfterMs <= 0) return;
    const nowMs = this.#c.clock.monoMs();
    const stale = this.#table.stale(nowMs);
    for (const [field, j] of this.#junk) if (nowMs - j.sinceMs >= this.#cleanupAfterMs) stale.push(field);
    stale.splice(cleanupFieldsPerPollMax);
    if (stale.length === 0) return;
    this.#cleaning = true;
    this.#c.store
      .mutate(
        registryKey(this.site),
        { kind: "mdel", fields: stale },
        { consistency: writeConsistency, timeoutMs: writeTimeoutMsDefault },
      )
      .then(
        () => {
          this.metrics.cleanups.inc({ result: "ok" }, stale.length);
          this.#c.log.info("removed stale registry fields", { site: this.site, fields: stale });
        },
        (err) => {
          this.metrics.cleanups.inc({ result: "failed" }, stale.length);
          this.#c.log.warn("could not remove stale registry fields; will try again", {
            site: this.site,
            fields: stale,
            err,
          });
        },
      )
      .finally(() => {
        this.#cleaning = false;
      });
  }
}
