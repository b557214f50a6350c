// When a failed try may move to another target. A request moves on only if the app never
// saw it (the connect failed, so no byte was written) or repeating it is harmless (a safe
// method, or the client sent an Idempotency-Key so the app applies it once), and only if
// the gateway still holds its whole body, and only within a budget: retries add at most a
// share of the request rate plus a small floor, so a sick planet is not buried under
// retries (the Finagle RetryBudget shape). Time is injected; decisions are deterministic.
//
// An Idempotency-Key counts only where the planet file says the service's app honours it
// (gateway.services.<name>.idempotencyKeyRetries). Even then, after a per-try timeout only a
// safe method is sent again: the first try may still be running in the app, and a dedup
// table that records a key when the request finishes cannot stop a twin that arrives while
// it runs. And a request an app may have seen goes to another site only when a safe method,
// or when the service says its app dedups through the store (appDedupsThroughStore), which
// every site reads; a per-instance or per-site dedup would apply it twice.
import type { Clock } from "../../core/index.ts";
import { type FailureKind, neverSent } from "./balancer.ts";
import { attemptsPerRequestMax, retryBudgetMinPerS, retryBudgetRatio, retryBudgetTokensMax } from "./constants.ts";

const safeMethods = new Set(["GET", "HEAD", "OPTIONS"]);

/** Repeating the request has no further effect: a safe method, or an Idempotency-Key. */
export function isIdempotent(method: string, idempotencyKey: boolean): boolean {
  return idempotencyKey || safeMethods.has(method);
}

export function isSafeMethod(method: string): boolean {
  return safeMethods.has(method);
}

export type RetryQuestion = {
  readonly kind: FailureKind;
  /** Safe method, or an Idempotency-Key where the service opted in. */
  readonly idempotent: boolean;
  /** A safe method (GET, HEAD, OPTIONS): may be repeated even while a first try still runs. */
  readonly safe: boolean;
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
  if (neverSent(q.kind)) return true;
  // After a timeout the first try may still be running: only a safe method goes again.
  if (q.kind === "timeout") return q.safe;
  return q.idempotent;
}

/** Whether a retry may go to another site's gateway. */
export function mayCrossSite(q: {
  /** Some earlier try may have reached an app. */
  readonly maybeRan: boolean;
  readonly safe: boolean;
  /** The service's app dedups Idempotency-Keys through the store, which every site reads. */
  readonly appDedupsThroughStore: boolean;
}): boolean {
  return !q.maybeRan || q.safe || q.appDedupsThroughStore;
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
