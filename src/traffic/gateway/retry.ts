// When a failed try may move to another target. A request moves on only if the app never
// saw it (the connect failed, so no byte was written) or repeating it is harmless (a safe
// method, or the client sent an Idempotency-Key so the app applies it once), and only if
// the gateway still holds its whole body, and only within a budget: retries add at most a
// share of the request rate plus a small floor, so a sick planet is not buried under
// retries (the Finagle RetryBudget shape). Time is injected; decisions are deterministic.
import type { Clock } from "../../core/index.ts";
import { type FailureKind, neverSent } from "./balancer.ts";
import { attemptsPerRequestMax, retryBudgetMinPerS, retryBudgetRatio, retryBudgetTokensMax } from "./constants.ts";

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** Repeating the request has no further effect: a safe method, or an Idempotency-Key. */
export function isIdempotent(method: string, idempotencyKey: boolean): boolean {
  return idempotencyKey || safeMethods.has(method);
}

export type RetryQuestion = {
  readonly kind: FailureKind;
  readonly idempotent: boolean;
  /** The whole body sent so far is still held (or there is none). */
  readonly bodyHeld: boolean;
  /** Tries made so far, including the one that failed. */
  readonly attempts: number;
  /** A response byte already went to the client: the answer is committed. */
  readonly responseStarted: boolean;
};

/** Whether the request may go to another target (before asking the budget). */
export function mayRetry(q: RetryQuestion): boolean {
  if (q.responseStarted || !q.bodyHeld || q.attempts >= attemptsPerRequestMax) return false;
  return neverSent(q.kind) || q.idempotent;
}

export type RetryBudgetOptions = {
  readonly ratio?: number;
  readonly minPerS?: number;
  readonly tokensMax?: number;
};

export class RetryBudget {
  readonly #clock: Clock;
  readonly #ratio: number;
  readonly #minPerS: number;
  readonly #tokensMax: number;
  #tokens: number;
  #lastMs: number;

  constructor(clock: Clock, options: RetryBudgetOptions = {}) {
    this.#clock = clock;
    this.#ratio = options.ratio ?? retryBudgetRatio;
    this.#minPerS = options.minPerS ?? retryBudgetMinPerS;
    this.#tokensMax = options.tokensMax ?? retryBudgetTokensMax;
    this.#tokens = this.#minPerS;
    this.#lastMs = clock.monoMs();
  }

  /** Every first try deposits a share of a retry. */
  onRequest(): void {
    this.#tokens = Math.min(this.#tokensMax, this.#tokens + this.#ratio);
  }

  /** Takes one retry from the budget; false when it is spent. */
  tryWithdraw(): boolean {
    this.#refill();
    // The epsilon absorbs the rounding of many fractional deposits (0.2 × 5 is not quite 1).
    if (this.#tokens < 1 - 1e-9) return false;
    this.#tokens = Math.max(0, this.#tokens - 1);
    return true;
  }

  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const nowMs = this.#clock.monoMs();
    const elapsedMs = nowMs - this.#lastMs;
    if (elapsedMs > 0) {
      this.#tokens = Math.min(this.#tokensMax, this.#tokens + (elapsedMs / 1000) * this.#minPerS);
      this.#lastMs = nowMs;
    }
  }
}
