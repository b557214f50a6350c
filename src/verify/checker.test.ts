// The checker on hand-made histories: each planted anomaly is reported with the op, the
// user, what was expected and what was seen; a clean history passes; a short or cut one is
// "not proven".
import assert from "node:assert/strict";
import { test } from "node:test";
import { arraySource, type CheckOptions, checkHistory, verifyConstants } from "./index.ts";
import { HistoryBuilder } from "./testkit/index.ts";

const small: CheckOptions = { opsMin: 5, faultsMin: 1 };

/** A user logged in with a session, in region nr (nearest site north). */
function loggedIn(h: HistoryBuilder, user = "alice"): string {
  const session = `s-${user}`;
  h.user(user, "nr").op({ kind: "login", user, session, saw: { sessionUser: user } });
  return session;
}

function withFault(h: HistoryBuilder): HistoryBuilder {
  return h.fault({ id: "f0", kind: "kill-instance", target: { site: "south", tier: "app" }, startMs: 0, ttlMs: 1 });
}

test("checker - a clean history with a fault passes", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 2 });
  h.op({ kind: "cart.set", user: "alice", session, item: "bread", quantity: 3 });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 2, bread: 3 }, sessionUser: "alice" } });
  h.op({ kind: "cart.remove", user: "alice", session, item: "apple" });
  h.op({ kind: "checkout", user: "alice", session, saw: { orderId: "o1" } });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: {} } });
  h.op({ kind: "orders.read", user: "alice", session, saw: { orders: [{ id: "o1", idempotencyKey: "k5" }] } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "pass", report.reasons.join("; "));
  assert.deepEqual(report.anomalies, []);
  assert.equal(report.stats.cartReadsChecked, 2);
  assert.equal(report.latency.overall.count, 8);
  assert.equal(report.latency.byKind["cart.read"].count, 2);
  assert.equal(Math.round(report.latency.byRegion.nr.p50Ms), 10);
});

test("checker - an acknowledged cart add missing from every later read is a lost write, naming the write", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 1 });
  const write = h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 2, idempotencyKey: "add-2" });
  const read = h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 1 } } });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 1 } } });
  h.op({ kind: "page", user: "alice", session, path: "/" });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "fail");
  assert.equal(report.anomalies.length, 1, "one anomaly per lost write, not one per read");
  const [a] = report.anomalies;
  assert.equal(a.kind, "cart-write-lost");
  assert.equal(a.user, "alice");
  assert.equal(a.op.line, read);
  assert.equal(a.about?.line, write);
  assert.equal(a.about?.idempotencyKey, "add-2");
  assert.equal(a.expected, "item apple quantity 3");
  assert.equal(a.seen, "quantity 1");
});

test("checker - a read missing a write that a later read shows is a stale read, not a loss", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  const write = h.op({ kind: "cart.set", user: "alice", session, item: "eggs", quantity: 6 });
  const stale = h.op({ kind: "cart.read", user: "alice", session, saw: { cart: {} } });
  const fresh = h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { eggs: 6 } } });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "fail");
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line, a.about?.line, a.expected]),
    [["stale-read", stale, write, "item eggs quantity 6"]],
  );
  assert.match(report.anomalies[0].seen, new RegExp(`quantity 0 \\(seen as expected later, at line ${fresh}\\)`));
  const lenient = await checkHistory(arraySource(h.build()), { ...small, staleReadsFail: false });
  assert.equal(lenient.verdict, "pass", "stale reads may be reported without failing");
  assert.equal(lenient.anomalies.length, 1);
});

test("checker - a write lost and then overwritten by the user's own set is still a lost write", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 1 });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: {} } });
  h.op({ kind: "cart.set", user: "alice", session, item: "apple", quantity: 4 });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 4 } } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => a.kind),
    ["cart-write-lost"],
  );
});

test("checker - a mutation in doubt may or may not show, but one applied twice is an extra write", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 1 });
  const doubt = h.op({
    kind: "cart.add",
    user: "alice",
    session,
    item: "apple",
    quantity: 2,
    outcome: { result: "unknown", message: "timeout" },
    attempts: 3,
  });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 1 } } });
  h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 3 } } });
  const twice = h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { apple: 5 } } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line]),
    [
      ["user-visible-error", doubt],
      ["cart-write-extra", twice],
    ],
  );
  assert.equal(report.anomalies[1].expected, "item apple quantity 1 or 3");
  assert.equal(report.stats.retriedOps, 1);
});

test("checker - a user-visible error names its status, message and attempts", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  const failed = h.op({
    kind: "cart.read",
    user: "alice",
    session,
    attempts: 2,
    outcome: { result: "error", status: 503, message: "no healthy upstream" },
  });
  h.op({ kind: "page", user: "alice", session });
  h.op({ kind: "page", user: "alice", session });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "fail");
  assert.deepEqual(report.anomalies, [
    {
      kind: "user-visible-error",
      user: "alice",
      op: { line: failed, kind: "cart.read", atMs: report.anomalies[0].op.atMs },
      expected: "a successful answer (after the client's retries)",
      seen: "error 503: no healthy upstream after 2 attempts",
    },
  ]);
  assert.equal(report.stats.errorOps, 1);
});

test("checker - a logged-in user's later op that sees no session is a lost session", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "page", user: "alice", session, saw: { sessionUser: "alice" } });
  const lost = h.op({ kind: "session.read", user: "alice", session, saw: { sessionUser: null } });
  h.op({ kind: "login", user: "alice", session: "s-alice-2", saw: { sessionUser: "alice" } });
  h.op({ kind: "page", user: "alice", session: "s-alice-2", saw: { sessionUser: "alice" } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "fail");
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.user, a.op.line, a.about?.line, a.expected, a.seen]),
    [["session-lost", "alice", lost, 3, "session s-alice of account alice", "no session"]],
  );
});

test("checker - sessions after a logout or past their TTL are not expected to survive", async () => {
  const h = withFault(new HistoryBuilder({ sites: ["north"], regions: { nr: "north" }, sessionTtlS: 1 }));
  const session = loggedIn(h);
  h.at(5_000).op({ kind: "page", user: "alice", session, saw: { sessionUser: null } });
  h.op({ kind: "page", user: "alice", session, saw: { sessionUser: null } });
  const s2 = loggedIn(h, "bob");
  h.op({ kind: "logout", user: "bob", session: s2 });
  h.op({ kind: "page", user: "bob", session: s2, saw: { sessionUser: null } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "pass", report.reasons.join("; "));
});

test("checker - an acknowledged checkout missing from later order history is a lost order", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  const checkout = h.op({ kind: "checkout", user: "alice", session, idempotencyKey: "buy-1", saw: { orderId: "o7" } });
  const read = h.op({ kind: "orders.read", user: "alice", session, saw: { orders: [] } });
  h.op({ kind: "orders.read", user: "alice", session, saw: { orders: [] } });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line, a.about?.line, a.about?.idempotencyKey, a.expected, a.seen]),
    [["order-lost", read, checkout, "buy-1", "order o7 of the acknowledged checkout", "0 orders without it"]],
  );
});

test("checker - two orders with one idempotency key, or more orders than checkouts, are duplicates", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "checkout", user: "alice", session, idempotencyKey: "buy-1", saw: { orderId: "o1" } });
  const read = h.op({
    kind: "orders.read",
    user: "alice",
    session,
    saw: {
      orders: [
        { id: "o1", idempotencyKey: "buy-1" },
        { id: "o2", idempotencyKey: "buy-1" },
      ],
    },
  });
  h.op({ kind: "page", user: "alice", session });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line, a.expected, a.seen]),
    [
      ["order-duplicated", read, "one order for Idempotency-Key buy-1", "2 orders: o1, o2"],
      ["order-duplicated", read, "at most 1 orders (1 acknowledged checkouts + 0 in doubt)", "2 orders"],
    ],
  );
});

test("checker - users of a lost site who wait past the limit fail the run, with the wait per site loss", async () => {
  const h = new HistoryBuilder();
  const session = loggedIn(h);
  h.user("bob", "sr").op({ kind: "page", user: "bob" });
  h.fault({ id: "loss-north", kind: "kill-site", target: { site: "north" }, startMs: 1_000, ttlMs: 30_000 });
  h.at(1_100).op({
    kind: "page",
    user: "alice",
    session,
    outcome: { result: "error", status: 0, message: "connect refused" },
    durationMs: 2_000,
  });
  const served = h
    .at(9_000)
    .op({ kind: "page", user: "alice", session, served: { site: "south", instance: "south-app-1" } });
  h.at(1_200).op({ kind: "page", user: "bob" });
  h.at(9_500).op({ kind: "page", user: "bob" });
  const report = await checkHistory(arraySource(h.build()), { ...small, recoveryMsMax: 5_000 });
  assert.equal(report.verdict, "fail");
  assert.equal(report.siteLosses.length, 1);
  const [loss] = report.siteLosses;
  assert.equal(loss.site, "north");
  assert.equal(loss.affectedUsers, 1, "bob's nearest site is south and he was served there");
  assert.equal(loss.maxWaitUser, "alice");
  assert.equal(loss.maxWaitMs, 9_010 - 1_100);
  const slow = report.anomalies.find((a) => a.kind === "slow-recovery");
  assert.ok(slow);
  assert.equal(slow.user, "alice");
  assert.equal(slow.op.line, served - 1, "the op from which alice waited");
  assert.match(slow.seen, /waited 7910 ms/);
  assert.equal(report.nonNearest.count, 0, "served by south during the loss of north is not counted");
  assert.equal(report.nonNearest.excludedDuringFaults, 1);
});

test("checker - requests served by a non-nearest site outside faults are counted", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.at(10_000);
  for (let i = 0; i < 3; i++) h.op({ kind: "page", user: "alice", session, served: { site: "south", instance: "s1" } });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "pass");
  assert.deepEqual(report.nonNearest, { count: 3, eligible: 5, share: 0.6, excludedDuringFaults: 0 });
});

test("checker - too few ops, too few faults, a missing end record or an interrupted run is not proven, never pass", async () => {
  const h = new HistoryBuilder();
  const session = loggedIn(h);
  h.op({ kind: "page", user: "alice", session });
  const short = await checkHistory(arraySource(h.build()));
  assert.equal(short.verdict, "not proven");
  assert.ok(short.reasons.some((r) => /only 2 ops/.test(r)));
  assert.ok(short.reasons.some((r) => /only 0 faults/.test(r)));
  const cut = await checkHistory(arraySource(withFault(h).build({ cut: true })), { opsMin: 1 });
  assert.equal(cut.verdict, "not proven");
  assert.ok(cut.reasons.some((r) => /cut short/.test(r)));
  const interrupted = await checkHistory(arraySource(h.build({ reason: "interrupted" })), { opsMin: 1 });
  assert.equal(interrupted.verdict, "not proven");
});

test("checker - a check that hits its time limit is not proven", async () => {
  const h = withFault(new HistoryBuilder());
  for (let i = 0; i < 2_000; i++) h.op({ kind: "page", user: `u${i % 10}` });
  let now = 0;
  const report = await checkHistory(arraySource(h.build()), { nowMs: () => (now += 10_000), checkTimeMsMax: 5_000 });
  assert.equal(report.verdict, "not proven");
  assert.ok(
    report.reasons.some((r) => /time limit/.test(r)),
    report.reasons.join("; "),
  );
});

test("checker - a user whose ops overlap, or an unknown region, is an invalid history naming the line", async () => {
  const h = withFault(new HistoryBuilder());
  h.op({ kind: "page", user: "alice", startMs: 0, endMs: 100 });
  h.op({ kind: "page", user: "alice", startMs: 50, endMs: 60 });
  await assert.rejects(checkHistory(arraySource(h.build())), {
    code: "RS_ERR_VERIFY_HISTORY_INVALID",
    message: /history:4: startMs/,
  });
  const h2 = new HistoryBuilder();
  h2.op({ kind: "page", user: "alice", region: "mars" });
  await assert.rejects(checkHistory(arraySource(h2.build())), { message: /history:2: region: mars/ });
});

test("checker - an item the user never added showing in their cart is an extra write", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  const read = h.op({ kind: "cart.read", user: "alice", session, saw: { cart: { caviar: 1 } } });
  h.op({ kind: "page", user: "alice", session });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line, a.expected, a.seen, a.about]),
    [["cart-write-extra", read, "item caviar quantity 0", "quantity 1", undefined]],
  );
});

test("checker - progress is reported for both passes, at most once per interval", async () => {
  const h = withFault(new HistoryBuilder());
  for (let i = 0; i < 50; i++) h.op({ kind: "page", user: `u${i % 5}` });
  let now = 0;
  const calls: [number, number][] = [];
  await checkHistory(arraySource(h.build()), {
    opsMin: 1,
    nowMs: () => (now += 100),
    onProgress: (pass, line) => calls.push([pass, line]),
  });
  assert.ok(calls.some(([pass]) => pass === 1) && calls.some(([pass]) => pass === 2), JSON.stringify(calls));
  // One call per 10 clock reads of 100 ms: far fewer calls than records.
  assert.ok(calls.length < 30, `${calls.length} progress calls`);
});

test("checker - a user past the cart item limit, or a heap past its limit, stops the check: not proven", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  for (let i = 0; i <= verifyConstants.cartItemsPerUserMax; i++) {
    h.op({ kind: "cart.add", user: "alice", session, item: `item-${i}`, quantity: 1 });
  }
  const items = await checkHistory(arraySource(h.build()), small);
  assert.equal(items.verdict, "not proven");
  assert.ok(
    items.reasons.some((r) => /more than 1000 cart items/.test(r)),
    items.reasons.join("; "),
  );
  const heap = await checkHistory(arraySource(h.build()), { ...small, heapUsedBytes: () => 1e12, heapBytesMax: 1 });
  assert.equal(heap.verdict, "not proven");
  assert.ok(heap.reasons.some((r) => /heap/.test(r)));
});

test("checker - a cart mutation's answer shows the cart after it: the write itself is in it, an earlier one missing is lost", async () => {
  const h = withFault(new HistoryBuilder());
  const session = loggedIn(h);
  h.op({ kind: "cart.add", user: "alice", session, item: "apple", quantity: 2, saw: { cart: { apple: 2 } } });
  h.op({ kind: "cart.set", user: "alice", session, item: "bread", quantity: 3, saw: { cart: { apple: 2, bread: 3 } } });
  h.op({ kind: "cart.remove", user: "alice", session, item: "apple", saw: { cart: { bread: 3 } } });
  h.op({ kind: "checkout", user: "alice", session, saw: { orderId: "o1", cart: {} } });
  h.op({ kind: "page", user: "alice", session });
  const clean = await checkHistory(arraySource(h.build()), small);
  assert.equal(clean.verdict, "pass", JSON.stringify(clean.anomalies));
  assert.equal(clean.stats.cartReadsChecked, 4, "every mutation's answer was checked");

  const lossy = withFault(new HistoryBuilder());
  const s2 = loggedIn(lossy);
  const write = lossy.op({ kind: "cart.add", user: "alice", session: s2, item: "apple", quantity: 2 });
  const answer = lossy.op({
    kind: "cart.add",
    user: "alice",
    session: s2,
    item: "pear",
    quantity: 1,
    saw: { cart: { pear: 1 } },
  });
  lossy.op({ kind: "page", user: "alice", session: s2 });
  const report = await checkHistory(arraySource(lossy.build()), small);
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.op.line, a.about?.line, a.expected, a.seen]),
    [["cart-write-lost", answer, write, "item apple quantity 2", "quantity 0"]],
  );
});

test("checker - a kill whose target went on serving makes the run not proven, never a pass", async () => {
  const h = new HistoryBuilder();
  const session = loggedIn(h);
  h.fault({ id: "loss-north", kind: "kill-site", target: { site: "north" }, startMs: 1_000, ttlMs: 30_000 });
  h.fault({
    id: "kill-app",
    kind: "kill-instance",
    target: { site: "north", tier: "app", instance: "north-app-1" },
    startMs: 1_000,
    ttlMs: 30_000,
  });
  // Inside the grace after the kill, an answer still in flight counts for nothing…
  h.at(1_200).op({ kind: "page", user: "alice", session, served: { site: "north", instance: "north-app-2" } });
  // …but well after it, the "lost" site and the "killed" instance serve: the faults never took.
  h.at(5_000).op({ kind: "page", user: "alice", session, served: { site: "north", instance: "north-app-1" } });
  h.at(6_000).op({ kind: "page", user: "alice", session, served: { site: "north", instance: "north-app-1" } });
  const report = await checkHistory(arraySource(h.build()), small);
  assert.equal(report.verdict, "not proven");
  assert.ok(
    report.reasons.some((r) => /fault loss-north \(kill-site of north\) did not take: its target served 2 ops/.test(r)),
    report.reasons.join("; "),
  );
  assert.ok(
    report.reasons.some((r) =>
      /fault kill-app \(kill-instance of north-app-1\) did not take: its target served 2 ops/.test(r),
    ),
  );
});
