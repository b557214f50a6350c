// shop: the demo app — a catalogue, login, a cart, checkout that creates an order exactly
// once, order history — as HTML pages (plain forms, no JavaScript) and a JSON API
// (docs/shop.md). Stateless like hello: sessions, carts, orders and the answers kept for
// idempotency keys all live in the store, so any instance in any site answers any request
// and killing one loses nothing. Started like hello by the supervisor (REDSHIRT_PLANET,
// REDSHIRT_SITE, REDSHIRT_INSTANCE_ID, HOST, PORT).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createLogger, Registry } from "../../src/core/index.ts";
import {
  appEnvironment,
  createIdempotency,
  createSessions,
  errorAnswer,
  type Instance,
  idempotencyKeyOf,
  type JsonAnswer,
  type RequestSession,
  readBodyText,
  sdkErrors,
  sendJson,
  servedHeaderNames,
  startInstance,
} from "../../src/sdk/index.ts";
import { createStoreClient } from "../../src/store/index.ts";
import { type Consistency, consistencyLevels } from "../../src/topology/index.ts";
import { type ApiRequest, cartOf, handleApi, readOrders, type ShopDeps, shopErrorOf } from "./api.ts";
import { cartPage, cataloguePage, errorPage, loginPage, ordersPage, type PageContext } from "./pages.ts";

const { planet, site } = appEnvironment();
// Writes wait for a majority in a second site by default: a whole site may go, and with it
// every acknowledged write that had not left it yet.
const writeLevel = (process.env.SHOP_WRITE_CONSISTENCY ?? "global") as Consistency;
if (!(consistencyLevels as readonly string[]).includes(writeLevel)) {
  throw sdkErrors.create(
    "RS_ERR_SDK_CONFIG",
    `SHOP_WRITE_CONSISTENCY: ${JSON.stringify(writeLevel)} (${consistencyLevels.join(", ")})`,
  );
}
const writeOptions = { consistency: writeLevel };

const log = createLogger({ part: "shop", site });
const store = createStoreClient({ planet, site });
const metrics = new Registry();
const requests = metrics.counter("shop_requests_total", "Requests answered, by status class");
const failures = metrics.counter("shop_errors_total", "Requests that failed on the server side (5xx), by code");
const badTokens = metrics.counter("shop_bad_session_tokens_total", "Cookies whose store token was malformed (dropped)");
const replays = metrics.counter(
  "shop_idempotent_replays_total",
  "Mutations answered from the answer kept for their key",
);
const keepFailures = metrics.counter(
  "shop_idempotency_keep_failures_total",
  "Answers that could not be kept for their key",
);
const sessions = createSessions({ store, badTokens, writeOptions });
// The kept answers are written at the planet's default level (one round trip less per
// mutation): the mutation's own writes are global, so if a site loss takes an answer with it,
// the retry runs the handler again, its writes are duplicates and its answer the same.
const idempotency = createIdempotency({ ttlS: planet.store.dedupWindowS, replays, keepFailures, log });
const deps: ShopDeps = { idempotency, writeOptions, login: sessions.login, logout: sessions.logout, log };
let instance: Instance | undefined;

function anonymous(): RequestSession {
  return { store, id: undefined, user: undefined, tokenIn: undefined };
}

function served(): Record<string, string> {
  return { [servedHeaderNames.site]: site!, [servedHeaderNames.instance]: instance?.id ?? "starting" };
}

/** The cookie to send after a request: the session it ends with, and the token its store view advanced to. */
function cookieAfter(session: RequestSession, idAfter: string | undefined): Record<string, string> {
  if (idAfter === session.id && session.store.session === session.tokenIn) return {};
  return { "set-cookie": sessions.cookie(idAfter, session.store) };
}

function idAfterApi(req: ApiRequest, answer: JsonAnswer): string | undefined {
  if (answer.status !== 200) return req.session.id;
  if (req.path === "/api/login") return (answer.body as { session: string }).session;
  if (req.path === "/api/logout") return undefined;
  return req.session.id;
}

async function parseBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBodyText(req);
  if (text.trim() === "") return undefined;
  if ((req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  try {
    return JSON.parse(text);
  } catch {
    throw sdkErrors.create("RS_ERR_SDK_BAD_BODY", "the body is not JSON; send a JSON object");
  }
}

function count(answer: JsonAnswer): void {
  requests.inc({ status: `${Math.floor(answer.status / 100)}xx` });
  if (answer.status >= 500) {
    const code = (answer.body as { error?: { code?: string } }).error?.code ?? "unknown";
    failures.inc({ code });
  }
}

async function api(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  let session: RequestSession | undefined;
  let answer: JsonAnswer;
  let apiReq: ApiRequest | undefined;
  try {
    const key = idempotencyKeyOf(req.headers["idempotency-key"]);
    const body = req.method === "GET" || req.method === "HEAD" ? undefined : await parseBody(req);
    // The catalogue needs no session: it answers even when the store cannot.
    session = path === "/api/catalogue" ? anonymous() : await sessions.resolve(req);
    apiReq = { method: req.method ?? "GET", path, session, key, body };
    answer = await handleApi(apiReq, deps);
  } catch (err) {
    answer = errorAnswer(shopErrorOf(err));
    if (answer.status >= 500) log.warn("request failed", { err, path, method: req.method });
  }
  count(answer);
  const cookie = session && apiReq ? cookieAfter(session, idAfterApi(apiReq, answer)) : {};
  sendJson(res, { ...answer, headers: { ...served(), ...cookie } });
}

/** The HTML pages: forms map onto the same API handlers, then redirect (303). */
async function page(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  let session: RequestSession | undefined;
  const html = (status: number, text: string, headers: Record<string, string> = {}) => {
    count({ status, body: {} });
    res.writeHead(status, { "content-type": "text/html; charset=utf-8", ...served(), ...headers });
    res.end(text);
  };
  const ctxOf = (user: string | undefined): PageContext => ({
    user,
    site: site!,
    instance: instance?.id ?? "starting",
  });
  try {
    session = await sessions.resolve(req);
    const ctx = ctxOf(session.user);
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/") return html(200, cataloguePage(ctx));
      if (path === "/login") return html(200, loginPage(ctx));
      if (path !== "/cart" && path !== "/orders") return html(404, errorPage(ctx, 404, `no page ${path}`));
      if (!session.user) return html(303, "", { location: "/login" });
      if (path === "/cart")
        return html(200, cartPage(ctx, (await cartOf(session.user, deps).read(session.store)).counts));
      return html(200, ordersPage(ctx, await readOrders(session.store, session.user)));
    }
    if (req.method !== "POST") return html(405, errorPage(ctx, 405, `${req.method} ${path}: use GET or a form`));
    const form = ((await parseBody(req)) ?? {}) as Record<string, string>;
    const key = form._idem ? idempotencyKeyOf(form._idem) : undefined;
    const q = form.quantity === undefined ? undefined : Number(form.quantity);
    const routes: Record<string, { method: string; path: string; body: unknown; next: string }> = {
      "/login": { method: "POST", path: "/api/login", body: { user: form.user }, next: "/" },
      "/logout": { method: "POST", path: "/api/logout", body: undefined, next: "/" },
      "/cart/add": { method: "POST", path: "/api/cart/items", body: { item: form.item, quantity: q }, next: "/cart" },
      "/cart/set": {
        method: "PUT",
        path: `/api/cart/items/${encodeURIComponent(form.item ?? "")}`,
        body: { quantity: q },
        next: "/cart",
      },
      "/cart/remove": {
        method: "DELETE",
        path: `/api/cart/items/${encodeURIComponent(form.item ?? "")}`,
        body: undefined,
        next: "/cart",
      },
      "/checkout": { method: "POST", path: "/api/checkout", body: undefined, next: "/orders" },
    };
    const route = routes[path];
    if (!route) return html(404, errorPage(ctx, 404, `no form ${path}`));
    const apiReq: ApiRequest = { method: route.method, path: route.path, session, key, body: route.body };
    let answer: JsonAnswer;
    try {
      answer = await handleApi(apiReq, deps);
    } catch (err) {
      answer = errorAnswer(shopErrorOf(err));
      if (answer.status >= 500) log.warn("form failed", { err, path });
    }
    const cookie = cookieAfter(session, idAfterApi(apiReq, answer));
    if (answer.status === 200) return html(303, "", { location: route.next, ...cookie });
    const message = (answer.body as { error?: { message?: string } }).error?.message ?? `HTTP ${answer.status}`;
    if (path === "/login" && answer.status < 500) return html(answer.status, loginPage(ctx, message), cookie);
    return html(answer.status, errorPage(ctx, answer.status, message), cookie);
  } catch (err) {
    const answer = errorAnswer(shopErrorOf(err));
    if (answer.status >= 500) log.warn("page failed", { err, path });
    const message = (answer.body as { error: { message: string } }).error.message;
    return html(answer.status, errorPage(ctxOf(session?.user), answer.status, message));
  }
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? "/", "http://shop").pathname;
  if (path === "/healthz") {
    // Draining: fail the gateways' checks too, so they stop sending even if the registry is slow to tell them.
    const ok = instance !== undefined && !instance.draining;
    return sendJson(res, {
      status: ok ? 200 : 503,
      body: { ok, instance: instance?.id ?? "starting" },
      headers: served(),
    });
  }
  if (path === "/metrics") {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4", ...served() });
    return res.end(`${metrics.render()}${instance?.metricsText() ?? ""}`);
  }
  const handled = path.startsWith("/api/") ? api(req, res, path) : page(req, res, path);
  handled.catch((err) => {
    // Only a bug gets here (every handler answers its own errors): counted, logged, answered.
    failures.inc({ code: "RS_ERR_SDK_INTERNAL" });
    log.error("unhandled", { err, path });
    sendJson(res, { ...errorAnswer(shopErrorOf(err)), headers: served() });
  });
});
server.keepAliveTimeout = 65_000;

instance = await startInstance({
  server,
  planet,
  site,
  exit: (code) => {
    void store.close().finally(() => process.exit(code));
  },
});
console.log(
  JSON.stringify({
    event: "ready",
    app: "shop",
    instance: instance.id,
    site,
    version: instance.version,
    url: `http://${instance.host}:${instance.port}/`,
  }),
);
