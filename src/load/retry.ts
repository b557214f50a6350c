// The client behaviour of a browser plus a good SDK, and nothing more, as decisions on one
// attempt's result (pure, so they are tested one by one):
// - a connection that never came up: the request certainly never left, so try the next
//   address the DNS gave (a browser does this), for reads and mutations alike;
// - no answer after the request may have left (reset, timeout): the outcome is unknown, so
//   send it again with the same Idempotency-Key, to the next address (the site may be gone);
// - an answer that says it may not have happened (5xx without definite: true, 408, 429):
//   again with the same key, to the same address (its gateway picks another instance or
//   fails over to another site itself), after a short backoff;
// - a definite answer (2xx, 3xx, a 4xx, or an error with definite: true): no retry.
// Bounded by attempts and by total time; what the user is left with is the op's outcome.
import type { Outcome } from "../verify/index.ts";
import { retryBackoffMsBase, retryBackoffMsMax } from "./constants.ts";

export type AttemptResult =
  | { readonly kind: "response"; readonly status: number; readonly definite?: boolean; readonly message: string }
  /** The connection never came up (refused, unreachable, connect timeout, no route): nothing was sent. */
  | { readonly kind: "connect-failed"; readonly message: string }
  /** The request may have left but no response came back (reset, closed, timed out). */
  | { readonly kind: "no-response"; readonly timedOut?: boolean; readonly message: string };

export type RetryDecision =
  | { readonly retry: false }
  | { readonly retry: true; readonly nextAddress: boolean; readonly backoff: boolean; readonly reason: string };

export type RetryLimits = { readonly attemptsMax: number; readonly opTimeMsMax: number };

/** A response the client takes as the final word: success, or an error that certainly stands. */
export function isDefiniteAnswer(status: number, definite: boolean | undefined): boolean {
  if (definite === true) return true;
  if (status < 400) return true;
  if (status === 408 || status === 429) return false;
  return status < 500;
}

/** Failed attempts in a row at one address after which the next address is tried whatever failed. */
export const failuresPerAddressMax = 2;

/**
 * What to do after an attempt, given how many were sent, how long the op has run, and how
 * many attempts in a row failed at the current address (this one included). A reset is
 * tried once more where it happened (a kept-alive connection the server had just closed
 * looks the same), a timeout is not (a cut link hangs every connection).
 */
export function decideRetry(
  result: AttemptResult,
  attempts: number,
  elapsedMs: number,
  limits: RetryLimits,
  failuresAtAddress = 1,
): RetryDecision {
  if (result.kind === "response" && isDefiniteAnswer(result.status, result.definite)) return { retry: false };
  if (attempts >= limits.attemptsMax || elapsedMs >= limits.opTimeMsMax) return { retry: false };
  const enoughHere = failuresAtAddress >= failuresPerAddressMax;
  switch (result.kind) {
    case "connect-failed":
      return { retry: true, nextAddress: true, backoff: false, reason: "connection failed" };
    case "no-response":
      return {
        retry: true,
        nextAddress: result.timedOut === true || enoughHere,
        backoff: false,
        reason: "no response",
      };
    default:
      return { retry: true, nextAddress: enoughHere, backoff: true, reason: `HTTP ${result.status}` };
  }
}

/** Pause before retry n (1 = the first retry): exponential, capped, jittered by `unit` ∈ [0, 1). */
export function backoffMs(retry: number, unit: number): number {
  const full = Math.min(retryBackoffMsMax, retryBackoffMsBase * 2 ** Math.max(0, retry - 1));
  return full / 2 + (full / 2) * unit;
}

/**
 * The op's outcome once the client stopped: the final answer when there was one; when
 * there was none, a mutation that was never sent anywhere certainly did not happen
 * (definite error), one that may have been sent is unknown; a read is an error.
 */
export function finalOutcome(results: readonly AttemptResult[], mutation: boolean): Outcome {
  const last = results.at(-1);
  if (!last)
    return { result: "error", status: 0, message: "no request was sent", ...(mutation ? { definite: true } : {}) };
  if (last.kind === "response") {
    if (last.status < 400) return { result: "ok" };
    const mayHaveApplied =
      mutation &&
      results.some((r) => r.kind === "no-response" || (r.kind === "response" && !r.definite && r.status >= 500));
    // A definite error of the final attempt speaks for the key: with the same key, the
    // server would have answered the earlier success instead.
    return {
      result: "error",
      status: last.status,
      message: last.message.slice(0, 4_000),
      ...(last.definite === true || (!mayHaveApplied && isDefiniteAnswer(last.status, last.definite) && mutation)
        ? { definite: true }
        : {}),
    };
  }
  const sentSomewhere = results.some((r) => r.kind !== "connect-failed");
  const message = results
    .map((r) => r.message)
    .join("; ")
    .slice(0, 4_000);
  if (mutation && sentSomewhere) return { result: "unknown", message };
  return { result: "error", status: 0, message, ...(mutation ? { definite: true } : {}) };
}
