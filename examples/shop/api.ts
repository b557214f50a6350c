// The shop's JSON API (docs/shop.md is the contract). Handlers return answers computed from
// what the store holds, never from "what I just did", so a retry that runs a handler again
// (its store writes are duplicates under the same op ids) answers the same.
import { isRedshirtError, type Logger } from "../../src/core/index.ts";
import {
  countsMap,
  type Idempotency,
  type IdempotentRun,
  type JsonAnswer,
  type RequestSession,
} from "../../src/sdk/index.ts";
import type { StoreClient, StoreWriteOptions } from "../../src/store/index.ts";
import { catalogue, itemById, quantityMax, totalCents } from "./catalogue.ts";
import { shopErrors } from "./errors.ts";

export type Order = {
  readonly id: string;
  readonly idempotencyKey?: string;
  readonly items: Record<string, number>;
  readonly totalCents: number;
  readonly createdAtIso: string;
};

export type ShopDeps = {
  readonly idempotency: Idempotency;
  readonly writeOptions: StoreWriteOptions;
  readonly login: (view: StoreClient, user: string, opId: string | undefined) => Promise<string>;
  readonly logout: (view: StoreClient, id: string, opId: string | undefined) => Promise<void>;
  readonly log: Logger;
};

/** A request as the API sees it: the session resolved, the key checked, the body parsed. */
export type ApiRequest = {
  readonly method: string;
  readonly path: string;
  readonly session: RequestSession;
  readonly key: string | undefined;
  readonly body: unknown;
};

const userRe = /^[A-Za-z0-9._-]{1,64}$/;

export const cartOf = (user: string, deps: ShopDeps) => countsMap(`cart:${user}`, deps.writeOptions);
export const ordersKey = (user: string) => `orders:${user}`;

function bad(field: string, why: string): never {
  throw shopErrors.create("RS_ERR_SHOP_BAD_REQUEST", `${field}: ${why}`);
}

function field(body: unknown, name: string): unknown {
  if (typeof body !== "object" || body === null || Array.isArray(body)) bad("body", "send a JSON object");
  return (body as Record<string, unknown>)[name];
}

function quantity(body: unknown, min: number): number {
  const q = field(body, "quantity");
  if (typeof q !== "number" || !Number.isInteger(q) || q < min || q > quantityMax) {
    bad("quantity", `an integer in ${min}..${quantityMax}`);
  }
  return q;
}

function item(id: unknown): string {
  if (typeof id !== "string" || id === "") bad("item", "name an item of the catalogue");
  if (!itemById.has(id)) throw shopErrors.create("RS_ERR_SHOP_UNKNOWN_ITEM", JSON.stringify(id.slice(0, 80)));
  return id;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    bad("item", "the path segment is not valid percent-encoding");
  }
}

function needUser(req: ApiRequest): string {
  if (req.session.user === undefined) throw shopErrors.create("RS_ERR_SHOP_NO_SESSION");
  return req.session.user;
}

export async function readOrders(view: StoreClient, user: string): Promise<Order[]> {
  const got = await view.get(ordersKey(user));
  const fields = got.exists ? (got.value as Record<string, Order>) : {};
  return Object.values(fields).sort((a, b) =>
    a.createdAtIso === b.createdAtIso ? (a.id < b.id ? 1 : -1) : a.createdAtIso < b.createdAtIso ? 1 : -1,
  );
}

async function checkout(req: ApiRequest, user: string, run: IdempotentRun, deps: ShopDeps): Promise<JsonAnswer> {
  const view = req.session.store;
  const cart = cartOf(user, deps);
  const before = await cart.read(view);
  // The order id comes from the key: a retry anywhere names the same order, and the orders
  // map holds one field per order id, so a second apply rewrites the same order.
  const orderId = `o-${run.base ?? run.opId("order-id").replaceAll(".", "-")}`;
  let order = before.notes[orderId] as Order | undefined;
  if (order === undefined) {
    if (Object.keys(before.counts).length === 0) throw shopErrors.create("RS_ERR_SHOP_CART_EMPTY");
    order = {
      id: orderId,
      ...(req.key === undefined ? {} : { idempotencyKey: req.key }),
      items: before.counts,
      totalCents: totalCents(before.counts),
      createdAtIso: new Date().toISOString(),
    };
    const zeros = Object.fromEntries(Object.keys(before.counts).map((name) => [name, 0]));
    // Emptying the cart and noting the order is one op on the cart's key: whoever sees the
    // cart emptied sees the order it became (a retry then writes that same order).
    await cart.set(view, zeros, run.opId("cart"), { [orderId]: order });
  }
  await view.mutate(
    ordersKey(user),
    { kind: "mset", fields: { [orderId]: order } },
    {
      ...deps.writeOptions,
      opId: run.opId("orders"),
    },
  );
  // Cleaning up needs no second site: should a site loss lose it, the next checkout redoes it.
  await cart.compact(view, run.opId("compact"), [orderId], {});
  const after = await cart.read(view);
  return { status: 200, body: { user, order, cart: after.counts } };
}

async function mutation(req: ApiRequest, deps: ShopDeps, user: string, run: IdempotentRun): Promise<JsonAnswer> {
  const view = req.session.store;
  const cart = cartOf(user, deps);
  const itemPath = /^\/api\/cart\/items\/([^/]+)$/.exec(req.path);
  if (req.path === "/api/cart/items" && req.method === "POST") {
    const id = item(field(req.body, "item"));
    const after = await cart.add(view, id, quantity(req.body, 1), run.opId("add"));
    return { status: 200, body: { user, cart: after.counts } };
  }
  if (itemPath && (req.method === "PUT" || req.method === "DELETE")) {
    const id = item(decodePathSegment(itemPath[1]));
    const q = req.method === "PUT" ? quantity(req.body, 0) : 0;
    const after = await cart.set(view, { [id]: q }, run.opId("set"));
    return { status: 200, body: { user, cart: after.counts } };
  }
  if (req.path === "/api/checkout" && req.method === "POST") return checkout(req, user, run, deps);
  throw shopErrors.create("RS_ERR_SHOP_NOT_FOUND", `${req.method} ${req.path}`);
}

/** Answers one API request; store failures become 503 with `definite` as the store said. */
export async function handleApi(req: ApiRequest, deps: ShopDeps): Promise<JsonAnswer> {
  const view = req.session.store;
  const { method, path } = req;
  if (method === "GET") {
    if (path === "/api/catalogue") return { status: 200, body: { items: catalogue } };
    if (path === "/api/session") {
      return {
        status: 200,
        body: { session: req.session.user ? req.session.id : null, user: req.session.user ?? null },
      };
    }
    if (path === "/api/cart") {
      const user = needUser(req);
      return { status: 200, body: { user, cart: (await cartOf(user, deps).read(view)).counts } };
    }
    if (path === "/api/orders") {
      const user = needUser(req);
      return { status: 200, body: { user, orders: await readOrders(view, user) } };
    }
  }
  if (path === "/api/login" && method === "POST") {
    const user = field(req.body, "user");
    if (typeof user !== "string" || !userRe.test(user)) bad("user", "1-64 characters of [A-Za-z0-9._-]");
    return deps.idempotency.run(view, `login:${user}`, req.key, async (run) => {
      const id = await deps.login(view, user, run.base === undefined ? undefined : run.opId("login"));
      return { status: 200, body: { session: id, user } };
    });
  }
  if (path === "/api/logout" && method === "POST") {
    // Logging out without a session is already done.
    if (req.session.id === undefined) return { status: 200, body: { session: null } };
    const id = req.session.id;
    return deps.idempotency.run(view, `logout:${id}`, req.key, async (run) => {
      await deps.logout(view, id, run.base === undefined ? undefined : run.opId("logout"));
      return { status: 200, body: { session: null } };
    });
  }
  const known = path === "/api/cart/items" || /^\/api\/cart\/items\/[^/]+$/.test(path) || path === "/api/checkout";
  if (known && method !== "GET") {
    const user = needUser(req);
    return deps.idempotency.run(view, `user:${user}`, req.key, (run) => mutation(req, deps, user, run));
  }
  const exists = ["/api/catalogue", "/api/session", "/api/cart", "/api/orders", "/api/login", "/api/logout"].includes(
    path,
  );
  if (exists || known) throw shopErrors.create("RS_ERR_SHOP_METHOD", `${method} ${path}`);
  throw shopErrors.create("RS_ERR_SHOP_NOT_FOUND", `${method} ${path}`);
}

/** A store error as the contract's answer: 503 (definite only when the store said so), 400 for a refused cookie token. */
export function shopErrorOf(err: unknown): unknown {
  if (!isRedshirtError(err)) {
    return shopErrors.create("RS_ERR_SHOP_INTERNAL", err instanceof Error ? err.message : String(err), { cause: err });
  }
  // The contract names only shop codes: the SDK's refusals of bad input become the shop's.
  if (err.code.startsWith("RS_ERR_SDK_")) {
    if (err.status < 500) return shopErrors.create("RS_ERR_SHOP_BAD_REQUEST", err.message, { cause: err });
    return shopErrors.create("RS_ERR_SHOP_INTERNAL", err.message, { cause: err });
  }
  if (!err.code.startsWith("RS_ERR_STORE_")) return err;
  if (err.status < 500 && err.code !== "RS_ERR_STORE_BAD_SESSION") {
    // Any other refusal by the store is the shop asking wrongly: a bug, not the user's input.
    return shopErrors.create("RS_ERR_SHOP_INTERNAL", err.message, { cause: err });
  }
  if (err.code === "RS_ERR_STORE_BAD_SESSION") {
    return shopErrors.create(
      "RS_ERR_SHOP_BAD_REQUEST",
      `cookie: the store refused its session token; log in again (${err.message})`,
    );
  }
  const e = shopErrors.create("RS_ERR_SHOP_STORE", err.message, { cause: err });
  return err.definite === true ? Object.assign(e, { definite: true }) : e;
}
