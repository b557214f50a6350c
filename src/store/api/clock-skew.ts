// An injectable offset on the store node's wall clock, for chaos (`redshirt chaos skew`):
// the node's engine — and so its hybrid logical clock — reads this clock, so a skewed node
// stamps its writes ahead of (or behind) its peers as a node with a wrong NTP would. The
// offset carries a time-to-live held here, in the node: it reverts itself at expiry even if
// whoever asked is gone, and a restarted node starts with none. Only the wall clock moves;
// monotonic time and timers are the base clock's.
import type { Clock, TimerHandle } from "../../core/index.ts";
import { storeErrors } from "../errors.ts";

/** The largest offset chaos may set: beyond the HLC's drift bound, so peers' rejection of its stamps can be tested. */
export const clockSkewMsMax = 10 * 60_000;
/** The longest time-to-live of a skew. */
export const clockSkewTtlMsMax = 24 * 3_600_000;

export type ClockSkewView = {
  readonly offsetMs: number;
  /** The chaos fault that set it (null when none is set). */
  readonly faultId: string | null;
  readonly ttlMs: number;
  readonly expiresInMs: number;
};

export type ClockSkewRequest = { readonly offsetMs: number; readonly ttlMs: number; readonly faultId: string };

export class SkewedClock implements Clock {
  readonly #base: Clock;
  #offsetMs = 0;
  #fault: { id: string; ttlMs: number; untilMono: number; timer: TimerHandle } | undefined;
  readonly #onChange: (view: ClockSkewView) => void;

  constructor(base: Clock, onChange: (view: ClockSkewView) => void = () => {}) {
    this.#base = base;
    this.#onChange = onChange;
  }

  nowMs(): number {
    return this.#base.nowMs() + this.#offsetMs;
  }

  monoMs(): number {
    return this.#base.monoMs();
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    return this.#base.setTimer(delayMs, fn);
  }

  /** Sets the offset for ttlMs (offset 0 heals at once). */
  skew(r: ClockSkewRequest): ClockSkewView {
    this.#fault?.timer.cancel();
    this.#fault = undefined;
    this.#offsetMs = r.offsetMs;
    if (r.offsetMs !== 0) {
      const timer = this.#base.setTimer(r.ttlMs, () => {
        if (this.#fault?.timer !== timer) return;
        this.#fault = undefined;
        this.#offsetMs = 0;
        this.#onChange(this.view());
      });
      this.#fault = { id: r.faultId, ttlMs: r.ttlMs, untilMono: this.#base.monoMs() + r.ttlMs, timer };
    }
    const view = this.view();
    this.#onChange(view);
    return view;
  }

  view(): ClockSkewView {
    const f = this.#fault;
    return {
      offsetMs: this.#offsetMs,
      faultId: f?.id ?? null,
      ttlMs: f?.ttlMs ?? 0,
      expiresInMs: f ? Math.max(0, Math.round(f.untilMono - this.#base.monoMs())) : 0,
    };
  }
}

/** The body of `POST /v1/admin/clock-skew`: {offsetMs, ttlMs, faultId}, each checked by name. */
export function parseClockSkew(body: string): ClockSkewRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "body: not JSON; send {offsetMs, ttlMs, faultId}");
  }
  const r = (raw ?? {}) as Record<string, unknown>;
  const bad = (text: string) => storeErrors.create("RS_ERR_STORE_BAD_REQUEST", text);
  if (typeof r.offsetMs !== "number" || !Number.isInteger(r.offsetMs) || Math.abs(r.offsetMs) > clockSkewMsMax) {
    throw bad(`offsetMs: an integer from -${clockSkewMsMax} to ${clockSkewMsMax} (got ${JSON.stringify(r.offsetMs)})`);
  }
  if (typeof r.ttlMs !== "number" || !Number.isInteger(r.ttlMs) || r.ttlMs < 0 || r.ttlMs > clockSkewTtlMsMax) {
    throw bad(`ttlMs: an integer from 0 to ${clockSkewTtlMsMax} (got ${JSON.stringify(r.ttlMs)})`);
  }
  if (typeof r.faultId !== "string" || !/^[A-Za-z0-9._:-]{1,64}$/.test(r.faultId)) {
    throw bad(`faultId: 1-64 of [A-Za-z0-9._:-] (got ${JSON.stringify(r.faultId)})`);
  }
  return { offsetMs: r.offsetMs, ttlMs: r.ttlMs, faultId: r.faultId };
}
