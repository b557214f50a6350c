import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock } from "../../core/index.ts";
import { type FailureKind, neverSent } from "./balancer.ts";
import { attemptsPerRequestMax } from "./constants.ts";
import { isIdempotent, mayCrossSite, mayRetry, RetryBudget } from "./retry.ts";

test("retry - safe methods and Idempotency-Key make a request idempotent; POST alone does not", () => {
  for (const m of ["GET", "HEAD", "OPTIONS"]) assert.equal(isIdempotent(m, false), true);
  for (const m of ["POST", "PUT", "DELETE", "PATCH"]) assert.equal(isIdempotent(m, false), false);
  assert.equal(isIdempotent("POST", true), true);
});

test("retry - an unsafe request moves on only when it never left the gateway", () => {
  const kinds: FailureKind[] = ["connect-refused", "connect-timeout", "connect-error", "reset", "timeout", "protocol"];
  for (const kind of kinds) {
    const base = { kind, bodyHeld: true, attempts: 1, responseStarted: false };
    assert.equal(mayRetry({ ...base, idempotent: true, safe: true }), true, `safe after ${kind}`);
    assert.equal(mayRetry({ ...base, idempotent: false, safe: false }), neverSent(kind), `unsafe after ${kind}`);
  }
  assert.deepEqual(
    kinds.filter((k) => neverSent(k)),
    ["connect-refused", "connect-timeout", "connect-error"],
  );
});

test("retry - an Idempotency-Key request is never sent again after a per-try timeout (the first try may still run)", () => {
  const base = { bodyHeld: true, attempts: 1, responseStarted: false, idempotent: true, safe: false };
  assert.equal(mayRetry({ ...base, kind: "timeout" }), false);
  assert.equal(mayRetry({ ...base, kind: "reset" }), true, "a reset connection ran nothing further");
  assert.equal(mayRetry({ ...base, kind: "timeout", safe: true }), true, "a GET may go again");
});

test("retry - across sites only what never ran, a safe method, or a service whose app dedups through the store", () => {
  assert.equal(mayCrossSite({ maybeRan: false, safe: false, appDedupsThroughStore: false }), true);
  assert.equal(mayCrossSite({ maybeRan: true, safe: true, appDedupsThroughStore: false }), true);
  assert.equal(mayCrossSite({ maybeRan: true, safe: false, appDedupsThroughStore: false }), false);
  assert.equal(mayCrossSite({ maybeRan: true, safe: false, appDedupsThroughStore: true }), true);
});

test("retry - never after the response started, without the body, or past the try limit", () => {
  const q = {
    kind: "connect-refused" as const,
    idempotent: true,
    safe: true,
    bodyHeld: true,
    attempts: 1,
    responseStarted: false,
  };
  assert.equal(mayRetry({ ...q, responseStarted: true }), false);
  assert.equal(mayRetry({ ...q, bodyHeld: false }), false);
  assert.equal(mayRetry({ ...q, attempts: attemptsPerRequestMax }), false);
  assert.equal(mayRetry({ ...q, attempts: attemptsPerRequestMax - 1 }), true);
});

test("retry - the budget allows a share of requests plus a floor per second, and saves up to a cap", () => {
  const clock = new ManualClock();
  const budget = new RetryBudget(clock, { ratio: 0.2, minPerS: 10, tokensMax: 50 });
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (budget.tryWithdraw()) allowed++;
  assert.equal(allowed, 10, "the floor at start");
  for (let i = 0; i < 100; i++) budget.onRequest();
  allowed = 0;
  for (let i = 0; i < 100; i++) if (budget.tryWithdraw()) allowed++;
  assert.equal(allowed, 20, "20 % of 100 requests");
  clock.advance(500);
  allowed = 0;
  for (let i = 0; i < 100; i++) if (budget.tryWithdraw()) allowed++;
  assert.equal(allowed, 5, "half a second of the floor");
  clock.advance(60_000);
  assert.equal(budget.tokens, 50, "capped");
});
