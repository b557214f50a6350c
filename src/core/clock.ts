// Time is a component: production code takes a Clock, never calls Date.now() or
// setTimeout directly, so a simulator can drive time and a seed replays a failure.

export type TimerHandle = { cancel(): void };

export interface Clock {
  /** Wall-clock milliseconds since the epoch (may jump; use for HLC and TTLs only). */
  nowMs(): number;
  /** Monotonic milliseconds, for intervals and timeouts. */
  monoMs(): number;
  /** Runs fn after delayMs; the handle cancels it. */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
  setTimer(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

type ManualTimer = { atMs: number; seq: number; fn: () => void; cancelled: boolean };

/**
 * A clock whose time moves only when told: for unit tests and the simulator. Time is kept
 * as small monotonic milliseconds (not epoch milliseconds, whose fractions a double cannot
 * hold precisely), so a timer set for a fraction of a millisecond still moves time forward.
 */
export class ManualClock implements Clock {
  #monoMs = 0;
  readonly #startMs: number;
  #timers: ManualTimer[] = [];
  #seq = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.#startMs = startMs;
  }

  nowMs(): number {
    return this.#startMs + this.#monoMs;
  }

  monoMs(): number {
    return this.#monoMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = { atMs: this.#monoMs + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** The monotonic time of the next pending timer, or undefined when none is pending. */
  nextTimerMs(): number | undefined {
    let best: number | undefined;
    for (const t of this.#timers) if (!t.cancelled && (best === undefined || t.atMs < best)) best = t.atMs;
    return best;
  }

  /** Moves time forward by deltaMs, firing due timers in time order (ties by creation). */
  advance(deltaMs: number): void {
    const targetMs = this.#monoMs + deltaMs;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const t of this.#timers) {
        if (t.cancelled || t.atMs > targetMs) continue;
        if (!next || t.atMs < next.atMs || (t.atMs === next.atMs && t.seq < next.seq)) next = t;
      }
      if (!next) break;
      this.#monoMs = Math.max(this.#monoMs, next.atMs);
      next.cancelled = true;
      next.fn();
    }
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    this.#monoMs = targetMs;
  }
}
