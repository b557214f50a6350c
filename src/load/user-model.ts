// What a virtual user does next: a shopper's session as a seeded script. A user browses
// (pages, the catalogue), logs in, fills a cart (add, change a quantity, remove), looks at
// it, checks out, reads their orders, now and then logs out and comes back later. The
// choice depends only on the user's random stream and what the user believes (logged in?
// what is in the cart, as the shop last showed it), so a seed replays the same script for
// the same answers. Pure: the executor sends the request and feeds the answer back.
import type { Random } from "../core/index.ts";
import type { OpKind } from "../verify/index.ts";

export type CatalogueItem = { readonly id: string; readonly priceCents: number };

export type UserBelief = {
  loggedIn: boolean;
  /** The cart as the shop last showed it (item → quantity ≥ 1). */
  cart: Map<string, number>;
  /** Item ids from the last catalogue the user saw (empty until the first). */
  catalogue: readonly string[];
  opsDone: number;
};

export type Request = {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
  readonly body?: Record<string, unknown>;
};

export type Action = {
  readonly kind: OpKind;
  readonly request: Request;
  readonly item?: string;
  readonly quantity?: number;
  /** page: the path fetched. */
  readonly path?: string;
};

export const htmlPages = ["/", "/cart", "/orders", "/login"] as const;
/** Quantities a user adds at once, and the most one sets. */
export const addQuantityMax = 3;
export const setQuantityMax = 5;

export function newBelief(): UserBelief {
  return { loggedIn: false, cart: new Map(), catalogue: [], opsDone: 0 };
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[random.int(items.length)];
}

/** Picks by weight; entries with weight 0 are never chosen. */
function weighted<T>(random: Random, entries: readonly (readonly [T, number])[]): T {
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let r = random.next() * total;
  for (const [value, w] of entries) {
    if (r < w) return value;
    r -= w;
  }
  return entries.findLast(([, w]) => w > 0)![0];
}

const catalogueAction: Action = {
  kind: "page",
  path: "/api/catalogue",
  request: { method: "GET", path: "/api/catalogue" },
};

/** The user's next operation, given what they believe. */
export function nextAction(belief: UserBelief, random: Random, user: string): Action {
  // A new visitor opens the shop first: the catalogue is what every later choice needs.
  if (belief.catalogue.length === 0) return catalogueAction;
  if (!belief.loggedIn) {
    const choice = weighted(random, [
      ["page", 5],
      ["catalogue", 2],
      ["session.read", 1],
      ["login", 4],
    ] as const);
    if (choice === "catalogue") return catalogueAction;
    if (choice === "page") {
      const path = pick(random, htmlPages);
      return { kind: "page", path, request: { method: "GET", path } };
    }
    if (choice === "session.read") return { kind: "session.read", request: { method: "GET", path: "/api/session" } };
    return { kind: "login", request: { method: "POST", path: "/api/login", body: { user } } };
  }
  const inCart = [...belief.cart.keys()];
  const has = inCart.length > 0 ? 1 : 0;
  const choice = weighted(random, [
    ["page", 3],
    ["cart.add", 10],
    ["cart.set", 4 * has],
    ["cart.remove", 2 * has],
    ["cart.read", 4],
    ["checkout", 3 * has],
    ["orders.read", 3],
    ["session.read", 1],
    ["logout", 0.5],
  ] as const);
  switch (choice) {
    case "page": {
      const path = pick(random, [...htmlPages.filter((p) => p !== "/login"), "/api/catalogue"]);
      return { kind: "page", path, request: { method: "GET", path } };
    }
    case "cart.add": {
      const item = pick(random, belief.catalogue);
      const quantity = 1 + random.int(addQuantityMax);
      return {
        kind: "cart.add",
        item,
        quantity,
        request: { method: "POST", path: "/api/cart/items", body: { item, quantity } },
      };
    }
    case "cart.set": {
      const item = pick(random, inCart);
      const quantity = random.int(setQuantityMax + 1);
      const path = `/api/cart/items/${encodeURIComponent(item)}`;
      return { kind: "cart.set", item, quantity, request: { method: "PUT", path, body: { quantity } } };
    }
    case "cart.remove": {
      const item = pick(random, inCart);
      return {
        kind: "cart.remove",
        item,
        request: { method: "DELETE", path: `/api/cart/items/${encodeURIComponent(item)}` },
      };
    }
    case "cart.read":
      return { kind: "cart.read", request: { method: "GET", path: "/api/cart" } };
    case "checkout":
      return { kind: "checkout", request: { method: "POST", path: "/api/checkout" } };
    case "orders.read":
      return { kind: "orders.read", request: { method: "GET", path: "/api/orders" } };
    case "session.read":
      return { kind: "session.read", request: { method: "GET", path: "/api/session" } };
    default:
      return { kind: "logout", request: { method: "POST", path: "/api/logout" } };
  }
}

/** What an answer tells the user, fed back into their belief. */
export type Observation = {
  readonly ok: boolean;
  readonly status: number;
  readonly sessionUser?: string | null;
  readonly cart?: Readonly<Record<string, number>>;
  readonly catalogue?: readonly CatalogueItem[];
};

export function observe(belief: UserBelief, action: Action, seen: Observation): void {
  belief.opsDone++;
  if (seen.catalogue && seen.catalogue.length > 0) belief.catalogue = seen.catalogue.map((i) => i.id);
  if (seen.cart) belief.cart = new Map(Object.entries(seen.cart).filter(([, q]) => q > 0));
  if (action.kind === "login" && seen.ok) belief.loggedIn = true;
  // The cart is the user's, not the session's: it is still there at the next login.
  if (action.kind === "logout" && seen.ok) belief.loggedIn = false;
  // The shop says there is no session (401, or a session read of nobody): log in again.
  if (seen.status === 401 || (seen.ok && seen.sessionUser === null)) belief.loggedIn = false;
}
