// A correct shop, simulated: users log in, browse, change their carts, check out and read
// their orders against an in-memory shop that never loses or duplicates anything, and the
// simulator writes the history a correct run would produce (including a site loss whose
// users fail over at once). The checker must pass such a history; a test then damages it.
import { seededRandom } from "../../core/index.ts";
import type { HistoryRecord, OpRecord, Outcome, Saw } from "../history.ts";

export type SimulationOptions = {
  readonly seed: number;
  readonly users: number;
  readonly opsPerUser: number;
  /** Share of mutations whose outcome the client never learns (applied or not, at random). */
  readonly inDoubtRate?: number;
};

export type SimulatedRun = {
  readonly records: HistoryRecord[];
  /** Indexes (in records) of in-doubt mutations that did apply. */
  readonly appliedInDoubt: ReadonlySet<number>;
};

const items = ["apple", "bread", "cheese", "dates", "eggs"];
const regions: Record<string, string> = { nr: "north", sr: "south" };
const lossSite = "north";

type Shop = { cart: Map<string, number>; orders: { id: string; idempotencyKey: string }[]; session: string | null };

export function simulateCorrectRun(options: SimulationOptions): SimulatedRun {
  const random = seededRandom(options.seed);
  const inDoubtRate = options.inDoubtRate ?? 0;
  const spanMs = options.opsPerUser * 40;
  const lossStartMs = spanMs / 2;
  const lossTtlMs = 1_000;
  const perUser: { op: OpRecord; applied: boolean }[][] = [];
  let keys = 0;
  let orders = 0;
  for (let u = 0; u < options.users; u++) {
    const user = `u${u}`;
    const region = u % 2 === 0 ? "nr" : "sr";
    const shop: Shop = { cart: new Map(), orders: [], session: null };
    let sessions = 0;
    let nowMs = random.int(50);
    const ops: { op: OpRecord; applied: boolean }[] = [];
    for (let i = 0; i < options.opsPerUser; i++) {
      const kind: OpRecord["kind"] =
        shop.session === null
          ? "login"
          : (
              [
                "page",
                "cart.add",
                "cart.add",
                "cart.set",
                "cart.remove",
                "cart.read",
                "checkout",
                "orders.read",
                "session.read",
                "logout",
              ] as const
            )[random.int(10)];
      const mutation = kind !== "page" && kind !== "cart.read" && kind !== "orders.read" && kind !== "session.read";
      const inDoubt = mutation && random.next() < inDoubtRate;
      const applies = !inDoubt || random.next() < 0.5;
      const startMs = nowMs;
      const nearest = regions[region];
      const failedOver = nearest === lossSite && startMs >= lossStartMs && startMs < lossStartMs + lossTtlMs;
      const endMs = startMs + 5 + random.int(35) + (failedOver ? 50 : 0);
      const site = failedOver ? "south" : nearest;
      const item = items[random.int(items.length)];
      const op: OpRecord = {
        type: "op",
        kind,
        user,
        region,
        startMs,
        endMs,
        attempts: inDoubt ? 3 : 1,
        outcome: { result: "ok" },
      };
      if (mutation) op.idempotencyKey = `k${++keys}`;
      const saw: Saw = {};
      const sessionBefore = shop.session;
      if (sessionBefore !== null) op.session = sessionBefore;
      if (kind === "login") {
        op.session = `s-${user}-${++sessions}`;
        if (applies) shop.session = op.session;
        saw.sessionUser = user;
      } else if (kind === "logout") {
        if (applies) shop.session = null;
      } else if (kind === "cart.add") {
        op.item = item;
        op.quantity = 1 + random.int(3);
        if (applies) shop.cart.set(item, (shop.cart.get(item) ?? 0) + op.quantity);
      } else if (kind === "cart.set") {
        op.item = item;
        op.quantity = random.int(6);
        if (applies) op.quantity === 0 ? shop.cart.delete(item) : shop.cart.set(item, op.quantity);
      } else if (kind === "cart.remove") {
        op.item = item;
        if (applies) shop.cart.delete(item);
      } else if (kind === "checkout") {
        const id = `o${++orders}`;
        if (applies) {
          shop.orders.push({ id, idempotencyKey: op.idempotencyKey! });
          shop.cart.clear();
        }
        saw.orderId = id;
      } else if (kind === "cart.read") {
        saw.cart = Object.fromEntries(shop.cart);
      } else if (kind === "orders.read") {
        saw.orders = shop.orders.map((o) => ({ ...o }));
      }
      // The server resolves the session the request carried: a correct store still has it.
      if (kind !== "login" && kind !== "logout" && sessionBefore !== null) saw.sessionUser = user;
      if (inDoubt) {
        op.outcome = { result: "unknown", message: "no answer after 3 attempts with the same key" } satisfies Outcome;
        if (kind === "login" && applies) shop.session = null; // the client never got the cookie
      } else {
        op.served = { site, instance: `${site}-app-${1 + random.int(3)}` };
        if (Object.keys(saw).length > 0) op.saw = saw;
      }
      ops.push({ op, applied: inDoubt && applies });
      nowMs = endMs + random.int(30);
    }
    perUser.push(ops);
  }
  // Interleave users by end time, as one recorder writing each op when it finishes would.
  const all = perUser.flat().sort((a, b) => a.op.endMs - b.op.endMs);
  const records: HistoryRecord[] = [
    {
      type: "header",
      format: "redshirt-history",
      version: 1,
      seed: options.seed,
      commit: "simulated",
      planet: "simulated",
      sites: [{ name: "north" }, { name: "south" }],
      regions: Object.entries(regions).map(([name, nearestSite]) => ({ name, nearestSite })),
    },
    {
      type: "fault",
      id: "f1",
      kind: "kill-site",
      target: { site: lossSite },
      startMs: lossStartMs,
      ttlMs: lossTtlMs,
    },
  ];
  const appliedInDoubt = new Set<number>();
  for (const { op, applied } of all) {
    if (applied) appliedInDoubt.add(records.length);
    records.push(op);
  }
  const lastMs = all.reduce((m, r) => Math.max(m, r.op.endMs), 0);
  records.push({ type: "end", endMs: lastMs, reason: "complete", ops: all.length });
  return { records, appliedInDoubt };
}
