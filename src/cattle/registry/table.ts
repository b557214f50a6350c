// Which leases are live, judged on the watcher's own clock: a lease is live while its beat
// moved within the TTL. No timestamp written by the holder is compared with ours, so clock
// skew between hosts cannot make a lease look live or dead. A beat seen at one read moved
// at some time after the read before it; the table takes that earliest time, so a holder
// that died is gone within the TTL plus one poll after its last beat. Pure: the caller
// passes the time and the fields it read, so a test replays every decision.
import type { Lease } from "./lease.ts";

type Row = { lease: Lease; lastChangeMs: number; firstSeenMs: number };

export type TableOptions = { readonly leaseTtlMs: number; readonly cleanupAfterMs: number };

export class LeaseTable {
  readonly #o: TableOptions;
  readonly #rows = new Map<string, Row>();
  #live: Lease[] = [];
  #liveIds = new Set<string>();
  #signature = "";
  /** A read failed since the last good one (the next good read grants the live leases grace). */
  #outage = false;
  /** When the last good read was made: the earliest a change seen by the next one can have happened. */
  #lastReadMs: number | undefined;

  constructor(options: TableOptions) {
    this.#o = options;
  }

  /**
   * A read succeeded with these leases (field id -> lease). Returns true when the live view
   * changed: a lease came, went, or changed its state, address or version.
   */
  observe(leases: ReadonlyMap<string, Lease>, nowMs: number): boolean {
    const afterOutage = this.#outage;
    this.#outage = false;
    // After an outage the reads in between are unknown: a change is dated now, not before it.
    const changedMs = afterOutage ? nowMs : (this.#lastReadMs ?? nowMs);
    this.#lastReadMs = nowMs;
    for (const [id, lease] of leases) {
      const row = this.#rows.get(id);
      if (!row) {
        // First sight: live for one TTL, then it must show a beat. A dead leftover a new
        // watcher meets is therefore listed for at most a TTL (health checks cover that).
        this.#rows.set(id, { lease, lastChangeMs: nowMs, firstSeenMs: nowMs });
        continue;
      }
      // A new incarnation, or a later beat of this one. A lower beat is a replica behind the
      // one read before: ignored, so reading two replicas in turn never fakes progress.
      if (lease.startedAtMs !== row.lease.startedAtMs || lease.beat > row.lease.beat) {
        row.lease = lease;
        row.lastChangeMs = changedMs;
      } else if (afterOutage && this.#liveIds.has(id)) {
        // We could not see beats during the outage: what was live gets a fresh TTL to show one.
        row.lastChangeMs = nowMs;
      }
    }
    for (const id of [...this.#rows.keys()]) if (!leases.has(id)) this.#rows.delete(id);
    return this.#recompute(nowMs);
  }

  /** A read failed: the view stays as it is (fail static) until a read succeeds. */
  readFailed(): void {
    this.#outage = true;
  }

  /** The live leases as of the last good read, by id order. */
  live(): readonly Lease[] {
    return this.#live;
  }

  isLive(id: string): boolean {
    return this.#liveIds.has(id);
  }

  /** Fields nobody renewed for cleanupAfterMs (on our clock): safe to remove. */
  stale(nowMs: number): string[] {
    const out: string[] = [];
    for (const [id, row] of this.#rows) if (nowMs - row.lastChangeMs >= this.#o.cleanupAfterMs) out.push(id);
    return out;
  }

  /** How long ago (our clock) each known field last moved, for status views. */
  ageMs(id: string, nowMs: number): number | undefined {
    const row = this.#rows.get(id);
    return row ? nowMs - row.lastChangeMs : undefined;
  }

  #recompute(nowMs: number): boolean {
    const live: Lease[] = [];
    for (const row of this.#rows.values()) if (nowMs - row.lastChangeMs <= this.#o.leaseTtlMs) live.push(row.lease);
    live.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const signature = live
      .map((l) => `${l.id} ${l.state} ${l.host}:${l.port} ${l.version} ${l.startedAtMs}`)
      .join("\n");
    this.#live = live;
    this.#liveIds = new Set(live.map((l) => l.id));
    if (signature === this.#signature) return false;
    this.#signature = signature;
    return true;
  }
}
