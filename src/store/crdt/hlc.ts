// Hybrid logical clocks: one safe integer per timestamp, wallMs * 1024 + logical. Every op is
// stamped by the node that coordinates it; `observe` on every message received keeps
// causality (anything a node does after receiving an op is stamped after it), and the wall
// part keeps stamps close to real time so last-writer-wins means what a person expects.
// See docs/store-internals.md, "Time".
import { assert, type Clock } from "../../core/index.ts";
import { hlcLogicalPerMs, hlcMaxDriftMs } from "../constants.ts";

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

  /** startHlc: the persisted high-water mark, so a restarted node never stamps backwards. */
  constructor(clock: Clock, startHlc = 0) {
    assert(Number.isSafeInteger(startHlc) && startHlc >= 0, "startHlc must be a non-negative safe integer");
    this.#clock = clock;
    this.#last = startHlc;
  }

  /** A new stamp: strictly greater than every stamp returned or observed before, and never behind the wall clock. */
  now(): number {
    // When the logical part would pass 1023 the sum simply carries into the wall part.
    const h = Math.max(this.#last + 1, hlcFromWallMs(Math.floor(this.#clock.nowMs())));
    this.#last = h;
    return h;
  }

  /** Takes a remote stamp into account. One more than hlcMaxDriftMs ahead of our wall clock is ignored and counted in `rejected`. */
  observe(remote: number): void {
    if (!Number.isSafeInteger(remote) || remote < 0) {
      this.#rejected++;
      return;
    }
    if (remote > hlcFromWallMs(Math.floor(this.#clock.nowMs()) + hlcMaxDriftMs)) {
      this.#rejected++;
      return;
    }
    if (remote > this.#last) this.#last = remote;
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
