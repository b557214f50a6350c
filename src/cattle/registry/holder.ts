// An instance's own lease: start() writes it, a heartbeat every heartbeatMs writes it again
// with `beat` + 1, setState() changes its state (starting -> ready -> draining), and stop()
// marks it draining and then removes the field, so watchers drop it at their next poll
// instead of a TTL later. Whoever runs the instance — our supervisor, Kubernetes, systemd —
// the instance registers itself, so gateways find it the same way everywhere. Writes are
// serialized (a late heartbeat can never land after the removal) and use `local-one`, so
// the lease renews while the site's store is degraded. A failed write is counted and
// logged, and the next beat simply writes again.
import type { Clock, Logger, Startable, TimerHandle } from "../../core/index.ts";
import { storeConstants } from "../../store/index.ts";
import { heartbeatMsDefault, writeConsistency, writeTimeoutMsDefault } from "./constants.ts";
import { registryErrors } from "./errors.ts";
import { type Lease, type LeaseState, type LeaseTier, parseLease, registryKey } from "./lease.ts";
import { RegistryMetrics } from "./metrics.ts";
import type { RegistryStore } from "./watcher.ts";

export type LeaseIdentity = {
  readonly id: string;
  readonly site: string;
  readonly tier: LeaseTier;
  /** The address a gateway (or a peer) dials to reach the instance. */
  readonly host: string;
  readonly port: number;
  readonly version: string;
  readonly pid?: number;
};

export type LeaseHolderOptions = LeaseIdentity & {
  readonly heartbeatMs?: number;
  readonly writeTimeoutMs?: number;
  /** The state written by start() (default "starting"; "ready" for something ready at once). */
  readonly initialState?: LeaseState;
};

export type LeaseHolderComponents = {
  readonly store: RegistryStore;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics?: RegistryMetrics;
};

export type HolderStatus = {
  readonly lease: Lease;
  readonly running: boolean;
  readonly consecutiveFailures: number;
  /** Our clock's ms since the last write that landed; null before the first. */
  readonly lastWriteOkAgoMs: number | null;
};

type WriteKind = "start" | "beat" | "state" | "remove";

/** A run of failed writes is logged at its first and then every this many, so an outage shows without a flood. */
const failureLogEvery = 20;

export class LeaseHolder implements Startable {
  readonly heartbeatMs: number;
  readonly metrics: RegistryMetrics;
  readonly #c: LeaseHolderComponents;
  readonly #writeTimeoutMs: number;
  readonly #key: string;
  #lease: Lease;
  #timer: TimerHandle | undefined;
  /** The tail of the write queue: every write waits for the one before it. */
  #queue: Promise<unknown> = Promise.resolve();
  #started = false;
  #stopped = false;
  #failuresInARow = 0;
  #lastOkMs: number | undefined;
  /** Whether the last write landed. */
  lastWriteOk = false;

  constructor(options: LeaseHolderOptions, components: LeaseHolderComponents) {
    this.#c = components;
    this.heartbeatMs = options.heartbeatMs ?? heartbeatMsDefault;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? writeTimeoutMsDefault;
    this.metrics = components.metrics ?? new RegistryMetrics();
    if (!Number.isInteger(this.heartbeatMs) || this.heartbeatMs < 10) {
      throw registryErrors.create("RS_ERR_CATTLE_REGISTRY_BAD_LEASE", "heartbeatMs: an integer of at least 10");
    }
    const lease: Lease = {
      id: options.id,
      site: options.site,
      tier: options.tier,
      host: options.host,
      port: options.port,
      state: options.initialState ?? "starting",
      version: options.version,
      startedAtMs: Math.floor(components.clock.nowMs()),
      beat: 0,
      ...(options.pid !== undefined && { pid: options.pid }),
    };
    const checked = parseLease(lease);
    if (!checked.ok) throw registryErrors.create("RS_ERR_CATTLE_REGISTRY_BAD_LEASE", checked.reason);
    this.#lease = lease;
    this.#key = registryKey(options.site);
  }

  get id(): string {
    return this.#lease.id;
  }

  /** The lease as last written (or about to be). */
  get lease(): Lease {
    return this.#lease;
  }

  /**
   * Writes the lease, then renews it every heartbeatMs. Resolves once the first write was
   * tried: a store that is down now must not keep an instance from starting (the next beat
   * writes again); `lastWriteOk` says how it went.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    if (this.#stopped) throw registryErrors.create("RS_ERR_CATTLE_REGISTRY_STOPPED", this.#lease.id);
    this.#started = true;
    await this.#write("start");
    this.#arm();
  }

  /** Changes the lease's state and writes it now; true when the write landed. */
  setState(state: LeaseState): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(false);
    if (state === this.#lease.state && this.#started) return Promise.resolve(this.lastWriteOk);
    this.#lease = { ...this.#lease, state };
    if (!this.#started) return Promise.resolve(true);
    return this.#write("state");
  }

  /** Marks the lease draining, then removes it; no write of this holder follows. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    if (!this.#started) return;
    if (this.#lease.state !== "draining") {
      this.#lease = { ...this.#lease, state: "draining" };
      await this.#write("state", true);
    }
    await this.#write("remove", true);
  }

  status(): HolderStatus {
    return {
      lease: this.#lease,
      running: this.#started && !this.#stopped,
      consecutiveFailures: this.#failuresInARow,
      lastWriteOkAgoMs: this.#lastOkMs === undefined ? null : Math.round(this.#c.clock.monoMs() - this.#lastOkMs),
    };
  }

  #arm(): void {
    if (this.#stopped) return;
    this.#timer = this.#c.clock.setTimer(this.heartbeatMs, () => {
      this.#timer = undefined;
      // The next beat is armed once this one settled: writes never pile up behind a slow store.
      void this.#write("beat").finally(() => this.#arm());
    });
  }

  /** Queues one write; resolves true when it landed, false when it failed (counted and logged). */
  #write(kind: WriteKind, evenIfStopped = false): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      if (this.#stopped && !evenIfStopped) return false;
      const lease: Lease = kind === "remove" ? this.#lease : { ...this.#lease, beat: this.#lease.beat + 1 };
      this.#lease = lease;
      try {
        if (kind === "remove") {
          await this.#c.store.mutate(
            this.#key,
            { kind: "mdel", fields: [lease.id] },
            {
              consistency: writeConsistency,
              timeoutMs: this.#writeTimeoutMs,
              opId: `lease.${lease.id}.${lease.startedAtMs}.remove`,
            },
          );
        } else {
          await this.#c.store.mutate(
            this.#key,
            { kind: "mset", fields: { [lease.id]: lease } },
            {
              consistency: writeConsistency,
              timeoutMs: this.#writeTimeoutMs,
              // One op id per incarnation and beat: the store client's own retries apply once.
              // Blind: a lease's older beats are worth nothing once a later one is there, so the
              // store keeps one write per field even while a dead store node holds stability.
              opId: `${storeConstants.blindOpIdPrefix}lease.${lease.id}.${lease.startedAtMs}.${lease.beat}`,
            },
          );
        }
        this.metrics.writes.inc({ kind, result: "ok" });
        if (this.#failuresInARow > 0) {
          this.#c.log.info("lease writes land again", { instance: lease.id, after: this.#failuresInARow });
        }
        this.#failuresInARow = 0;
        this.#lastOkMs = this.#c.clock.monoMs();
        this.lastWriteOk = true;
        return true;
      } catch (err) {
        this.metrics.writes.inc({ kind, result: "failed" });
        this.#failuresInARow++;
        this.lastWriteOk = false;
        if (kind !== "beat" || this.#failuresInARow === 1 || this.#failuresInARow % failureLogEvery === 0) {
          this.#c.log.warn("lease write failed; the next beat writes again", {
            instance: lease.id,
            site: lease.site,
            kind,
            failures: this.#failuresInARow,
            err,
          });
        }
        return false;
      }
    };
    const p = this.#queue.then(run);
    this.#queue = p;
    return p;
  }
}
