import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../core/index.ts";
import { type AttemptResult, backoffMs, decideRetry, failuresPerAddressMax, finalOutcome } from "./retry.ts";

const limits = { attemptsMax: 6, opTimeMsMax: 15_000 };
const refused: AttemptResult = { kind: "connect-failed", message: "ECONNREFUSED" };
const reset: AttemptResult = { kind: "no-response", message: "UND_ERR_SOCKET other side closed" };
const timedOut: AttemptResult = { kind: "no-response", timedOut: true, message: "UND_ERR_HEADERS_TIMEOUT" };
const answer = (status: number, definite?: boolean): AttemptResult => ({
  kind: "response",
  status,
  ...(definite === undefined ? {} : { definite }),
  message: `HTTP ${status}`,
});

test("retry - a definite answer is never retried: success, redirect, 4xx, and a 5xx that says definite", () => {
  for (const r of [
    answer(200),
    answer(303),
    answer(400),
    answer(401),
    answer(404),
    answer(409, true),
    answer(503, true),
  ]) {
    assert.deepEqual(decideRetry(r, 1, 0, limits), { retry: false }, JSON.stringify(r));
  }
});

test("retry - a failed connection goes to the next address at once, for reads and mutations alike", () => {
  const d = decideRetry(refused, 1, 0, limits);
  assert.deepEqual(d, { retry: true, nextAddress: true, backoff: false, reason: "connection failed" });
});

test("retry - a timeout moves to the next address; a reset is tried once more where it happened, then moves on", () => {
  const slow = decideRetry(timedOut, 1, 0, limits);
  assert.ok(slow.retry && slow.nextAddress);
  const first = decideRetry(reset, 1, 0, limits, 1);
  assert.ok(first.retry && !first.nextAddress && !first.backoff);
  const second = decideRetry(reset, 2, 0, limits, failuresPerAddressMax);
  assert.ok(second.retry && second.nextAddress);
});

test("retry - an answer that may not have happened (5xx without definite, 408, 429) is retried after a backoff", () => {
  for (const r of [answer(502), answer(503), answer(503, false), answer(504), answer(408), answer(429)]) {
    const d = decideRetry(r, 1, 0, limits, 1);
    assert.ok(d.retry && d.backoff && !d.nextAddress, JSON.stringify(r));
  }
  const again = decideRetry(answer(503), 2, 0, limits, 2);
  assert.ok(again.retry && again.nextAddress, "the same address failing twice sends the user to the next");
});

test("retry - bounded by attempts and by the op's total time", () => {
  assert.deepEqual(decideRetry(refused, 6, 0, limits), { retry: false });
  assert.deepEqual(decideRetry(answer(503), 2, 15_000, limits), { retry: false });
  assert.equal(decideRetry(refused, 5, 14_999, limits).retry, true);
});

test("retry - backoff grows, is capped, and is jittered within [half, full] by the seeded stream", () => {
  const r = seededRandom(7);
  const a = [1, 2, 3, 10].map((n) => backoffMs(n, r.next()));
  const b = [1, 2, 3, 10].map((n) => backoffMs(n, 0));
  assert.ok(a[0] >= 12.5 && a[0] <= 25);
  assert.ok(a[3] >= 250 && a[3] <= 500);
  assert.deepEqual(b, [12.5, 25, 50, 250]);
  const again = seededRandom(7);
  assert.deepEqual(
    [1, 2, 3, 10].map((n) => backoffMs(n, again.next())),
    a,
    "a seed replays its jitter",
  );
});

test("retry - the outcome: a mutation never sent anywhere certainly did not happen; one that may have left is unknown", () => {
  assert.deepEqual(finalOutcome([refused, refused], true), {
    result: "error",
    status: 0,
    message: "ECONNREFUSED; ECONNREFUSED",
    definite: true,
  });
  assert.equal(finalOutcome([refused, reset], true).result, "unknown");
  assert.equal(finalOutcome([timedOut], true).result, "unknown");
  // A read without any answer is an error the user saw (there is nothing to be in doubt about).
  assert.deepEqual(finalOutcome([reset], false), { result: "error", status: 0, message: reset.message });
});

test("retry - the outcome: the final answer speaks, and a 4xx after an in-doubt attempt is not claimed definite", () => {
  assert.deepEqual(finalOutcome([reset, answer(200)], true), { result: "ok" });
  assert.deepEqual(finalOutcome([answer(409, true)], true), {
    result: "error",
    status: 409,
    message: "HTTP 409",
    definite: true,
  });
  assert.deepEqual(finalOutcome([answer(400)], true), {
    result: "error",
    status: 400,
    message: "HTTP 400",
    definite: true,
  });
  assert.deepEqual(finalOutcome([reset, answer(400)], true), { result: "error", status: 400, message: "HTTP 400" });
  assert.deepEqual(finalOutcome([answer(503), answer(503)], true), {
    result: "error",
    status: 503,
    message: "HTTP 503",
  });
});
