// hono-cart: the SDK from a framework — a cart in twenty routes' worth of Hono. The same
// pieces as the shop (sessions in the store, Idempotency-Key, the countsMap cart), plain
// functions that take what every framework has: the cookie header, a store view, a key.
// Started like hello (REDSHIRT_PLANET, REDSHIRT_SITE, HOST, PORT). Routes:
//   POST /login {"user"}      GET /cart      POST /cart {"item","quantity"} (Idempotency-Key)
import type { Server } from "node:http";
import { createAdaptorServer } from "@hono/node-server";
import { type Context, Hono } from "hono";
import {
  appEnvironment,
  countsMap,
  createIdempotency,
  createSessions,
  errorAnswer,
  type Instance,
  idempotencyKeyOf,
  type JsonAnswer,
  type RequestSession,
  sdkErrors,
  servedHeaderNames,
  startInstance,
} from "../../src/sdk/index.ts";
import { createStoreClient } from "../../src/store/index.ts";

const { planet, site } = appEnvironment();
const store = createStoreClient({ planet, site });
const sessions = createSessions({ store, cookieName: "hono_session" });
const idempotency = createIdempotency({ ttlS: planet.store.dedupWindowS });
let instance: Instance | undefined;

const app = new Hono<{ Variables: { session: RequestSession } }>();

/** Answers with the SDK's answer, the served headers and the cookie carrying the advanced token. */
function reply(c: Context, answer: JsonAnswer, sessionId: string | undefined): Response {
  const session = c.get("session");
  c.header(servedHeaderNames.site, site!);
  c.header(servedHeaderNames.instance, instance?.id ?? "starting");
  if (session) c.header("set-cookie", sessions.cookie(sessionId, session.store));
  return c.json(answer.body as object, answer.status as 200);
}

// Every request: its session from the store, a store view carrying the cookie's token.
app.use("*", async (c, next) => {
  c.set("session", await sessions.resolve({ headers: { cookie: c.req.header("cookie") } }));
  await next();
});

app.get("/healthz", (c) =>
  reply(c, { status: instance?.draining ? 503 : 200, body: { ok: !instance?.draining } }, undefined),
);

app.post("/login", async (c) => {
  const { user } = (await c.req.json()) as { user?: unknown };
  if (typeof user !== "string" || !/^[A-Za-z0-9._-]{1,64}$/.test(user)) {
    return reply(c, errorAnswer(sdkErrors.create("RS_ERR_SDK_BAD_BODY", "user: 1-64 of [A-Za-z0-9._-]")), undefined);
  }
  const id = await sessions.login(c.get("session").store, user);
  return reply(c, { status: 200, body: { session: id, user } }, id);
});

app.get("/cart", async (c) => {
  const s = c.get("session");
  if (!s.user) return reply(c, { status: 401, body: { error: "log in first" } }, s.id);
  return reply(c, { status: 200, body: (await countsMap(`hono-cart:${s.user}`).read(s.store)).counts }, s.id);
});

app.post("/cart", async (c) => {
  const s = c.get("session");
  if (!s.user) return reply(c, { status: 401, body: { error: "log in first" } }, s.id);
  const user = s.user;
  const { item, quantity } = (await c.req.json()) as { item?: unknown; quantity?: unknown };
  if (typeof item !== "string" || !Number.isInteger(quantity)) {
    return reply(c, errorAnswer(sdkErrors.create("RS_ERR_SDK_BAD_BODY", "item, quantity")), s.id);
  }
  const answer = await idempotency.run(
    s.store,
    `user:${user}`,
    idempotencyKeyOf(c.req.header("idempotency-key")),
    async (run) => {
      const cart = await countsMap(`hono-cart:${user}`).add(s.store, item, quantity as number, run.opId("add"));
      return { status: 200, body: cart.counts };
    },
  );
  return reply(c, answer, s.id);
});

app.onError((err, c) => reply(c, errorAnswer(err), c.get("session")?.id));

const server = createAdaptorServer({ fetch: app.fetch }) as Server;
instance = await startInstance({
  server,
  planet,
  site,
  exit: (code) => void store.close().finally(() => process.exit(code)),
});
console.log(
  JSON.stringify({
    event: "ready",
    app: "hono-cart",
    instance: instance.id,
    url: `http://${instance.host}:${instance.port}/`,
  }),
);
