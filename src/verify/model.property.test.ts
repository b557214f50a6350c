// Property tests against a correct shop (testkit/simulate.ts): whatever the seed, a history
// it produces passes; mutations in doubt cost only the errors users saw; and dropping any
// acknowledged cart write or checkout from a later read is caught. (Dropping a remove, or a
// set to less, shows more than expected: an extra write rather than a missing one.)
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { arraySource, checkHistory, type HistoryRecord, type OpRecord } from "./index.ts";
import { simulateCorrectRun } from "./testkit/index.ts";

const runs = { numRuns: 25 };
const shape = fc.record({
  seed: fc.integer(),
  users: fc.integer({ min: 1, max: 6 }),
  opsPerUser: fc.integer({ min: 10, max: 60 }),
});
const options = (records: HistoryRecord[]) => ({ opsMin: records.length - 3, faultsMin: 1 });

test("model - a history of a correct shop passes, whatever the seed", async () => {
  await fc.assert(
    fc.asyncProperty(shape, async (s) => {
      const { records } = simulateCorrectRun(s);
      const report = await checkHistory(arraySource(records), options(records));
      assert.equal(report.verdict, "pass", JSON.stringify(report.anomalies.slice(0, 3)));
    }),
    runs,
  );
});

test("model - with mutations in doubt, the only anomalies are the errors users saw", async () => {
  await fc.assert(
    fc.asyncProperty(shape, async (s) => {
      const { records } = simulateCorrectRun({ ...s, inDoubtRate: 0.2 });
      const report = await checkHistory(arraySource(records), options(records));
      const other = report.anomalies.filter((a) => a.kind !== "user-visible-error");
      assert.deepEqual(other, []);
      assert.equal(report.anomalyCounts["user-visible-error"], report.stats.unknownOps);
    }),
    runs,
  );
});

const isOp = (r: HistoryRecord): r is OpRecord => r.type === "op";
const cartWrites = new Set(["cart.add", "cart.set", "cart.remove", "checkout"]);

/** The user's cart as a read at `until` would show it if the write at `skip` had never applied. */
function cartWithout(records: HistoryRecord[], user: string, skip: number, until: number): Record<string, number> {
  const cart = new Map<string, number>();
  for (let i = 0; i < until; i++) {
    const op = records[i];
    if (!isOp(op) || op.user !== user || i === skip || op.outcome.result !== "ok") continue;
    if (op.kind === "cart.add") cart.set(op.item!, (cart.get(op.item!) ?? 0) + op.quantity!);
    else if (op.kind === "cart.set") op.quantity === 0 ? cart.delete(op.item!) : cart.set(op.item!, op.quantity!);
    else if (op.kind === "cart.remove") cart.delete(op.item!);
    else if (op.kind === "checkout") cart.clear();
  }
  return Object.fromEntries(cart);
}

const sameCart = (a: Record<string, number>, b: Record<string, number>) =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

test("model - dropping any acknowledged cart write from a later read is caught at that read", async () => {
  await fc.assert(
    fc.asyncProperty(shape, fc.nat(), async (s, pick) => {
      const { records } = simulateCorrectRun(s);
      const writes = records.flatMap((r, i) =>
        isOp(r) && cartWrites.has(r.kind) && r.outcome.result === "ok" ? [i] : [],
      );
      fc.pre(writes.length > 0);
      const w = writes[pick % writes.length];
      const user = (records[w] as OpRecord).user;
      const r = records.findIndex((x, i) => i > w && isOp(x) && x.user === user && x.saw?.cart !== undefined);
      fc.pre(r !== -1);
      const read = records[r] as OpRecord;
      const without = cartWithout(records, user, w, r);
      fc.pre(!sameCart(without, read.saw!.cart!));
      const damaged = records.slice();
      damaged[r] = { ...read, saw: { ...read.saw, cart: without } };
      const report = await checkHistory(arraySource(damaged), options(damaged));
      assert.equal(report.verdict, "fail");
      assert.ok(
        report.anomalies.some(
          (a) =>
            (a.kind === "cart-write-lost" || a.kind === "cart-write-extra" || a.kind === "stale-read") &&
            a.user === user &&
            a.op.line === r + 1,
        ),
        JSON.stringify(report.anomalies),
      );
    }),
    runs,
  );
});

test("model - dropping any acknowledged order from a later order history read is caught", async () => {
  await fc.assert(
    fc.asyncProperty(shape, fc.nat(), async (s, pick) => {
      const { records } = simulateCorrectRun(s);
      const checkouts = records.flatMap((r, i) =>
        isOp(r) && r.kind === "checkout" && r.outcome.result === "ok" ? [i] : [],
      );
      fc.pre(checkouts.length > 0);
      const c = checkouts[pick % checkouts.length];
      const { user, saw } = records[c] as OpRecord;
      const r = records.findIndex((x, i) => i > c && isOp(x) && x.user === user && x.saw?.orders !== undefined);
      fc.pre(r !== -1);
      const read = records[r] as OpRecord;
      const damaged = records.slice();
      damaged[r] = { ...read, saw: { ...read.saw, orders: read.saw!.orders!.filter((o) => o.id !== saw!.orderId) } };
      const report = await checkHistory(arraySource(damaged), options(damaged));
      assert.ok(
        report.anomalies.some(
          (a) => (a.kind === "order-lost" || a.kind === "stale-read") && a.op.line === r + 1 && a.about?.line === c + 1,
        ),
        JSON.stringify(report.anomalies),
      );
    }),
    runs,
  );
});
