// What one user should see of their own state, given their own operations so far. A user
// runs one operation at a time, and only that user writes their cart, session and orders,
// so the expected state is the user's mutations applied in their order: an acknowledged
// mutation certainly applied, a definite error certainly not, and a mutation in doubt
// (outcome unknown, or an error that may have applied) either applied or not — possibly
// later, in its original place (a counter add commutes; a set carries its original
// timestamp). A read that misses an acknowledged write opens a "miss"; if a later read sees
// the write after all, the first read was stale; if the write is overwritten, or the
// history ends, before any read sees it, it was lost.
import { cartItemsPerUserMax, ordersPerUserMax, possibleQuantitiesMax } from "./constants.ts";
import type { OpRecord } from "./history.ts";
import type { Anomaly, AnomalyKind, OpRef } from "./report.ts";

export type Certainty = "applied" | "not-applied" | "in-doubt";

/** Ops whose answer shows the cart as it is after them. */
const cartMutations: ReadonlySet<string> = new Set(["cart.add", "cart.set", "cart.remove", "checkout"]);

export function certaintyOf(op: OpRecord): Certainty {
  if (op.outcome.result === "ok") return "applied";
  if (op.outcome.result === "error" && op.outcome.definite === true) return "not-applied";
  return "in-doubt";
}

export function opRef(op: OpRecord, line: number): OpRef {
  return {
    line,
    kind: op.kind,
    atMs: op.startMs,
    ...(op.idempotencyKey === undefined ? {} : { idempotencyKey: op.idempotencyKey }),
  };
}

type Miss = { readonly lostKind: AnomalyKind; readonly anomaly: Omit<Anomaly, "kind"> };
type ItemState = { possible: Set<number> | "any"; lastWrite: OpRef | undefined };
type SessionState = { id: string; account: string; state: "in" | "maybe-out" | "out"; lastUseMs: number; login: OpRef };

export type UserCounters = {
  cartReadsChecked: number;
  orderReadsChecked: number;
  sessionChecks: number;
  unverifiableItemReads: number;
};

/** Thrown when a per-user table would pass its maximum: the check stops with "not proven". */
export class LimitReached extends Error {}

const describeQuantities = (p: Set<number> | "any") =>
  p === "any" ? "any quantity" : [...p].sort((a, b) => a - b).join(" or ");

export class UserModel {
  readonly #user: string;
  readonly #emit: (a: Anomaly) => void;
  readonly #counters: UserCounters;
  readonly #sessionTtlMs: number | undefined;
  readonly #items = new Map<string, ItemState>();
  readonly #misses = new Map<string, Miss>();
  readonly #orders = new Map<string, { ref: OpRef; key: string | undefined }>();
  #ordersInDoubt = 0;
  #orderExcessReported = false;
  readonly #duplicateKeysReported = new Set<string>();
  #session: SessionState | undefined;

  constructor(user: string, emit: (a: Anomaly) => void, counters: UserCounters, sessionTtlMs: number | undefined) {
    this.#user = user;
    this.#emit = emit;
    this.#counters = counters;
    this.#sessionTtlMs = sessionTtlMs;
  }

  /** Applies one of the user's operations (in the user's order) and checks what it saw. */
  observe(op: OpRecord, line: number): void {
    const ref = opRef(op, line);
    const certainty = certaintyOf(op);
    // A read shows the state before it; a cart mutation's answer shows the cart after it
    // (what the user sees once their change is in), so it is checked once the op is applied.
    const showsAfter = cartMutations.has(op.kind);
    if (op.outcome.result === "ok" && op.saw !== undefined && !showsAfter) this.#checkSaw(op, ref);
    switch (op.kind) {
      case "cart.add":
        this.#applyItem(op.item!, (v) => v + op.quantity!, certainty, ref, false);
        break;
      case "cart.set":
        this.#applyItem(op.item!, () => op.quantity!, certainty, ref, true);
        break;
      case "cart.remove":
        this.#applyItem(op.item!, () => 0, certainty, ref, true);
        break;
      case "checkout":
        this.#applyCheckout(op, certainty, ref);
        break;
      case "login":
        this.#applyLogin(op, certainty, ref);
        break;
      case "logout":
        if (this.#session && certainty !== "not-applied") {
          this.#session.state = certainty === "applied" ? "out" : "maybe-out";
        }
        break;
      default:
        break;
    }
    if (op.outcome.result === "ok" && op.saw !== undefined && showsAfter) this.#checkSaw(op, ref);
    if (this.#session && op.session === this.#session.id && op.outcome.result === "ok") {
      this.#session.lastUseMs = op.endMs;
    }
  }

  /** The history ended: every miss still open is a loss. */
  finish(): void {
    for (const subject of [...this.#misses.keys()]) this.#resolveLost(subject);
  }

  #checkSaw(op: OpRecord, ref: OpRef): void {
    const saw = op.saw!;
    if (saw.cart !== undefined) this.#checkCart(saw.cart, ref);
    if (saw.orders !== undefined) this.#checkOrders(saw.orders, ref);
    if (saw.sessionUser !== undefined) this.#checkSession(op, saw.sessionUser, ref);
  }

  #open(subject: string, lostKind: AnomalyKind, anomaly: Omit<Anomaly, "kind">): void {
    if (!this.#misses.has(subject)) this.#misses.set(subject, { lostKind, anomaly });
  }

  #matched(subject: string, ref: OpRef): void {
    const miss = this.#misses.get(subject);
    if (!miss) return;
    this.#misses.delete(subject);
    this.#emit({
      ...miss.anomaly,
      kind: "stale-read",
      seen: `${miss.anomaly.seen} (seen as expected later, at line ${ref.line})`,
    });
  }

  #resolveLost(subject: string): void {
    const miss = this.#misses.get(subject);
    if (!miss) return;
    this.#misses.delete(subject);
    this.#emit({ ...miss.anomaly, kind: miss.lostKind });
  }

  #item(name: string): ItemState {
    let state = this.#items.get(name);
    if (!state) {
      if (this.#items.size >= cartItemsPerUserMax) {
        throw new LimitReached(`user ${this.#user} touched more than ${cartItemsPerUserMax} cart items`);
      }
      state = { possible: new Set([0]), lastWrite: undefined };
      this.#items.set(name, state);
    }
    return state;
  }

  #applyItem(name: string, f: (v: number) => number, certainty: Certainty, ref: OpRef, overwrites: boolean): void {
    if (certainty === "not-applied") return;
    const state = this.#item(name);
    if (certainty === "applied" && overwrites) this.#resolveLost(`cart:${name}`);
    if (state.possible === "any") {
      if (certainty === "applied" && overwrites) state.possible = new Set([f(0)]);
    } else {
      const next = new Set<number>([...state.possible].map(f));
      if (certainty === "in-doubt") for (const v of state.possible) next.add(v);
      state.possible = next.size > possibleQuantitiesMax ? "any" : next;
    }
    if (certainty === "applied") state.lastWrite = ref;
  }

  #checkCart(cart: Readonly<Record<string, number>>, ref: OpRef): void {
    this.#counters.cartReadsChecked++;
    const names = new Set([...this.#items.keys(), ...Object.keys(cart)]);
    for (const name of names) {
      const seen = cart[name] ?? 0;
      const state = this.#item(name);
      if (state.possible === "any") {
        this.#counters.unverifiableItemReads++;
        continue;
      }
      const subject = `cart:${name}`;
      if (state.possible.has(seen)) {
        this.#matched(subject, ref);
        continue;
      }
      // Above every possible quantity: something applied that the user's writes do not
      // explain (a write applied twice, a remove undone, an item never added); otherwise an
      // acknowledged write is missing.
      const extra = seen > Math.max(...state.possible);
      this.#open(subject, extra ? "cart-write-extra" : "cart-write-lost", {
        user: this.#user,
        op: ref,
        expected: `item ${name} quantity ${describeQuantities(state.possible)}`,
        seen: `quantity ${seen}`,
        ...(state.lastWrite ? { about: state.lastWrite } : {}),
      });
    }
  }

  #applyCheckout(op: OpRecord, certainty: Certainty, ref: OpRef): void {
    if (certainty === "not-applied") return;
    for (const name of this.#items.keys()) this.#applyItem(name, () => 0, certainty, ref, true);
    if (certainty === "applied") {
      if (this.#orders.size >= ordersPerUserMax) {
        throw new LimitReached(`user ${this.#user} has more than ${ordersPerUserMax} orders`);
      }
      this.#orders.set(op.saw!.orderId!, { ref, key: op.idempotencyKey });
    } else {
      this.#ordersInDoubt++;
    }
  }

  #checkOrders(orders: readonly { id: string; idempotencyKey?: string }[], ref: OpRef): void {
    this.#counters.orderReadsChecked++;
    const ids = new Set(orders.map((o) => o.id));
    for (const [id, order] of this.#orders) {
      const subject = `order:${id}`;
      if (ids.has(id)) {
        this.#matched(subject, ref);
        continue;
      }
      this.#open(subject, "order-lost", {
        user: this.#user,
        op: ref,
        expected: `order ${id} of the acknowledged checkout`,
        seen: `${ids.size} orders without it`,
        about: order.ref,
      });
    }
    const idsByKey = new Map<string, Set<string>>();
    for (const o of orders) {
      if (o.idempotencyKey === undefined) continue;
      const set = idsByKey.get(o.idempotencyKey) ?? new Set();
      set.add(o.id);
      idsByKey.set(o.idempotencyKey, set);
    }
    for (const [key, set] of idsByKey) {
      if (set.size < 2 || this.#duplicateKeysReported.has(key)) continue;
      this.#duplicateKeysReported.add(key);
      this.#emit({
        kind: "order-duplicated",
        user: this.#user,
        op: ref,
        expected: `one order for Idempotency-Key ${key}`,
        seen: `${set.size} orders: ${[...set].sort().join(", ")}`,
      });
    }
    const allowed = this.#orders.size + this.#ordersInDoubt;
    if (ids.size > allowed && !this.#orderExcessReported) {
      this.#orderExcessReported = true;
      this.#emit({
        kind: "order-duplicated",
        user: this.#user,
        op: ref,
        expected: `at most ${allowed} orders (${this.#orders.size} acknowledged checkouts + ${this.#ordersInDoubt} in doubt)`,
        seen: `${ids.size} orders`,
      });
    }
  }

  #applyLogin(op: OpRecord, certainty: Certainty, ref: OpRef): void {
    if (certainty === "not-applied") return;
    if (certainty === "in-doubt" || op.session === undefined || !op.saw?.sessionUser) {
      // The client does not know its session: nothing to expect of it.
      this.#resolveLost("session");
      this.#session = undefined;
      return;
    }
    // A new login replaces the old session; a miss of the old one that no read resolved is a loss.
    this.#resolveLost("session");
    this.#session = { id: op.session, account: op.saw.sessionUser, state: "in", lastUseMs: op.endMs, login: ref };
  }

  #checkSession(op: OpRecord, sessionUser: string | null, ref: OpRef): void {
    const s = this.#session;
    if (!s || op.session !== s.id || op.kind === "login") return;
    if (s.state !== "in") return;
    if (this.#sessionTtlMs !== undefined && op.startMs - s.lastUseMs > this.#sessionTtlMs) {
      // Idle past its TTL: the store may have expired it, so nothing is expected of it any more.
      s.state = "out";
      return;
    }
    this.#counters.sessionChecks++;
    if (sessionUser === s.account) {
      this.#matched("session", ref);
      return;
    }
    this.#open("session", "session-lost", {
      user: this.#user,
      op: ref,
      expected: `session ${s.id} of account ${s.account}`,
      seen: sessionUser === null ? "no session" : `account ${sessionUser}`,
      about: s.login,
    });
  }
}
