import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../core/index.ts";
import { mutationKinds } from "../verify/index.ts";
import { type Action, newBelief, nextAction, type Observation, observe, type UserBelief } from "./user-model.ts";

const catalogue = ["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"].map((id) => ({
  id,
  priceCents: 100,
}));

/** A shop that does what it is asked, as the user sees it: enough to drive the script. */
function answer(belief: UserBelief, action: Action): Observation {
  const cart = Object.fromEntries(belief.cart);
  switch (action.kind) {
    case "page":
      return { ok: true, status: 200, ...(action.path === "/api/catalogue" ? { catalogue } : {}) };
    case "login":
      return { ok: true, status: 200, sessionUser: "u" };
    case "cart.add":
      cart[action.item!] = (cart[action.item!] ?? 0) + action.quantity!;
      return { ok: true, status: 200, cart };
    case "cart.set":
      cart[action.item!] = action.quantity!;
      return { ok: true, status: 200, cart };
    case "cart.remove":
      delete cart[action.item!];
      return { ok: true, status: 200, cart };
    case "checkout":
      return { ok: true, status: 200, cart: {} };
    default:
      return { ok: true, status: 200 };
  }
}

function script(seed: number, ops: number): Action[] {
  const random = seededRandom(seed);
  const belief = newBelief();
  const out: Action[] = [];
  for (let i = 0; i < ops; i++) {
    const a = nextAction(belief, random, "u");
    out.push(a);
    observe(belief, a, answer(belief, a));
  }
  return out;
}

test("user model - a seed replays the same script; another seed makes another", () => {
  assert.deepEqual(script(42, 300), script(42, 300));
  assert.notDeepEqual(script(42, 300), script(43, 300));
});

test("user model - a session reads the catalogue first, logs in before any cart op, and does every kind of op", () => {
  const actions = script(5, 2_000);
  assert.equal(actions[0].path, "/api/catalogue");
  const firstLogin = actions.findIndex((a) => a.kind === "login");
  const firstCart = actions.findIndex((a) => a.kind.startsWith("cart.") || a.kind === "checkout");
  assert.ok(firstLogin > 0 && firstCart > firstLogin);
  const kinds = new Set(actions.map((a) => a.kind));
  for (const k of [
    "page",
    "login",
    "logout",
    "session.read",
    "cart.add",
    "cart.set",
    "cart.remove",
    "cart.read",
    "checkout",
    "orders.read",
  ]) {
    assert.ok(kinds.has(k as Action["kind"]), `${k} appears in 2,000 ops`);
  }
});

test("user model - never checks out, changes or removes what the user does not believe is in the cart", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const random = seededRandom(seed);
    const belief = newBelief();
    for (let i = 0; i < 500; i++) {
      const a = nextAction(belief, random, "u");
      if (a.kind === "checkout")
        assert.ok(belief.cart.size > 0, "checkout of an empty cart would be a user-visible 409");
      if (a.kind === "cart.set" || a.kind === "cart.remove") assert.ok(belief.cart.has(a.item!));
      if (a.kind === "cart.add") assert.ok(a.quantity! >= 1 && catalogue.some((c) => c.id === a.item));
      if (mutationKinds.has(a.kind) && a.kind !== "login") assert.ok(belief.loggedIn, `${a.kind} only with a session`);
      observe(belief, a, answer(belief, a));
    }
  }
});

test("user model - a 401 or a session read of nobody makes the user log in again; the cart survives a logout", () => {
  const belief = newBelief();
  belief.catalogue = ["apple"];
  belief.loggedIn = true;
  belief.cart.set("apple", 2);
  observe(
    belief,
    { kind: "cart.read", request: { method: "GET", path: "/api/cart" } },
    { ok: false, status: 401, sessionUser: null },
  );
  assert.equal(belief.loggedIn, false);
  belief.loggedIn = true;
  observe(
    belief,
    { kind: "session.read", request: { method: "GET", path: "/api/session" } },
    { ok: true, status: 200, sessionUser: null },
  );
  assert.equal(belief.loggedIn, false);
  belief.loggedIn = true;
  observe(belief, { kind: "logout", request: { method: "POST", path: "/api/logout" } }, { ok: true, status: 200 });
  assert.equal(belief.loggedIn, false);
  assert.equal(belief.cart.get("apple"), 2);
});
