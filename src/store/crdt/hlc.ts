// Hybrid logical clocks: one safe integer per timestamp, wallMs * 1024 + logical. Every op is
// stamped by the node that coordinates it; `observe` on every message received keeps
// causality (anything a node does after receiving an op is stamped after it), and the wall
// part keeps stamps close to real time so last-writer-wins means what a person expects.
// A lease bounds what the clock hands out: no stamp returned or observed passes the
// `ceiling`, which the node persists before it raises it (replication/hlc-lease.ts), so a
// restarted node, which resumes from the persisted ceiling, never stamps below anything it
// advertised. See docs/store-internals.md, "Time".
import { assert, type Clock } from "../../core/index.ts";
import { hlcAheadCountMs, hlcLogicalPerMs, hlcMaxDriftMs } from "../constants.ts";

export function hlcFromWallMs(ms: number): number {
  return ms * hlcLogicalPerMs;
}

export function hlcWallMs(h: number): number {
  return Math.floor(h / hlcLogicalPerMs);
}

export class HybridClock {
  readonly #clock: Clock;
  #last: number;
  #rejected = 0;
  #ahead = 0;
  #ceiling = Number.POSITIVE_INFINITY;
  /** Persists a ceiling of at least `needed` and returns it; throws when it cannot (nothing changes then). */
  #extend: ((needed: number) => number) | undefined;

  /** startHlc: the persisted high-water mark, so a restarted node never stamps backwards. */
  constructor(clock: Clock, startHlc = 0) {
    assert(Number.isSafeInteger(startHlc) && startHlc >= 0, "startHlc must be a non-negative safe integer");
    this.#clock = clock;
    this.#last = startHlc;
  }

  /**
   * Bounds every later stamp by `ceiling` (already persisted); `extend` persists a higher one
   * when a stamp would pass it (rare: the lease is renewed ahead of time off the write path).
   */
  setLease(ceiling: number, extend: (needed: number) => number): void {
    assert(ceiling >= this.#last, "a lease starts at or above the last stamp");
    this.#ceiling = ceiling;
    this.#extend = extend;
  }

  /** Raises the ceiling to one the caller has persisted. */
  raiseCeiling(ceiling: number): void {
    if (ceiling > this.#ceiling) this.#ceiling = ceiling;
  }

  get ceiling(): number {
    return this.#ceiling;
  }

  #within(h: number): void {
    if (h <= this.#ceiling) return;
    assert(this.#extend !== undefined, "a ceiling without a way to extend it");
    const next = this.#extend(h);
    assert(next >= h, "an extended ceiling covers the stamp");
    this.#ceiling = next;
  }

  /** A new stamp: strictly greater than every stamp returned or observed before, and never behind the wall clock. Throws when the lease cannot be extended. */
  now(): number {
    // When the logical part would pass 1023 the sum simply carries into the wall part.
    const h = Math.max(this.#last + 1, hlcFromWallMs(Math.floor(this.#clock.nowMs())));
    this.#within(h);
    this.#last = h;
    return h;
  }

  /** Takes a remote stamp into account. One more than hlcMaxDriftMs ahead of our wall clock is ignored and counted in `rejected`. */
  observe(remote: number): void {
    if (!Number.isSafeInteger(remote) || remote < 0) {
      this.#rejected++;
      return;
    }
    const wallMs = Math.floor(this.#clock.nowMs());
    if (remote > hlcFromWallMs(wallMs + hlcMaxDriftMs)) {
      this.#rejected++;
      return;
    }
    if (remote <= this.#last) return;
    if (remote > hlcFromWallMs(wallMs + hlcAheadCountMs)) this.#ahead++;
    try {
      this.#within(remote);
    } catch {
      // The lease could not be extended (the disk failed): do not follow the remote stamp.
      this.#rejected++;
      return;
    }
    this.#last = remote;
  }

  /** How many remote stamps taken were more than hlcAheadCountMs ahead of our wall clock (a peer's clock runs fast). */
  get ahead(): number {
    return this.#ahead;
  }

  /** The greatest stamp returned or observed so far (persist it as the high-water mark). */
  get last(): number {
    return this.#last;
  }

  /** How many remote stamps were ignored as too far ahead (or malformed). */
  get rejected(): number {
    return this.#rejected;
  }
}
