// Runs one user operation the way a browser plus a good SDK would (retry.ts decides), and
// returns its history record: every attempt of the op, the outcome the user was left with,
// who served the final answer (x-served-site, x-served-instance) and what it showed.
import type { Agent } from "undici";
import type { Clock, Random } from "../core/index.ts";
import { mutationKinds, type OpRecord, type Saw, verifyConstants } from "../verify/index.ts";
import { responseBytesMax } from "./constants.ts";
import type { CookieJar } from "./cookie-jar.ts";
import { connectFailureCodes } from "./dialer.ts";
import type { UserDns } from "./dns-client.ts";
import { type AttemptResult, backoffMs, decideRetry, finalOutcome, type RetryLimits } from "./retry.ts";
import type { Action, CatalogueItem, Observation } from "./user-model.ts";

export const sessionCookieName = "rs_session";

export type UserContext = {
  readonly user: string;
  readonly region: string;
  readonly agent: Agent;
  readonly dns: UserDns;
  readonly jar: CookieJar;
  /** The service's name (the Host header, as a browser sends it). */
  readonly host: string;
  readonly port: number;
  readonly clock: Clock;
  /** For backoff jitter only: the script's own stream stays untouched by failures. */
  readonly jitter: Random;
  readonly limits: RetryLimits & { readonly requestTimeoutMs: number };
  /** Index into the current DNS answer of the address that last worked (a browser keeps its connection). */
  preferred: { addresses: readonly string[]; index: number };
};

export type OpStats = { nextAddress: number; dnsFailures: number };

type Answer = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
  text: string;
};

const asString = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);

function sessionIdOf(jar: CookieJar): string | undefined {
  const value = jar.get(sessionCookieName);
  if (!value) return undefined;
  const id = value.split(".")[0];
  return id.length > 0 && id.length <= 256 ? id : undefined;
}

async function send(ctx: UserContext, address: string, action: Action, key: string | undefined): Promise<Answer> {
  // A browser asks for pages as HTML and the shop's JSON API as JSON.
  const accept = action.request.path.startsWith("/api/") ? "application/json" : "text/html";
  const headers: Record<string, string> = { host: ctx.host, accept };
  const cookie = ctx.jar.header();
  if (cookie) headers.cookie = cookie;
  if (key) headers["idempotency-key"] = key;
  let body: string | undefined;
  if (action.request.body) {
    body = JSON.stringify(action.request.body);
    headers["content-type"] = "application/json";
  }
  const res = await ctx.agent.request({
    origin: `http://${address}:${ctx.port}`,
    path: action.request.path,
    method: action.request.method,
    headers,
    body,
    headersTimeout: ctx.limits.requestTimeoutMs,
    bodyTimeout: ctx.limits.requestTimeoutMs,
  });
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res.body) {
    bytes += (chunk as Buffer).length;
    if (bytes > responseBytesMax) {
      res.body.destroy();
      throw new Error(`response body over ${responseBytesMax} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  ctx.jar.store(res.headers["set-cookie"]);
  let json: unknown;
  if (String(res.headers["content-type"] ?? "").includes("json")) {
    // A body that says JSON but is not stays undefined: the op then shows nothing it saw,
    // and an error answer is judged by its status alone (as a browser would).
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  return { status: res.statusCode, headers: res.headers, json, text };
}

type ErrorBody = { error?: { code?: string; message?: string; definite?: boolean } };

function attemptOf(answer: Answer): AttemptResult {
  const err = (answer.json as ErrorBody | undefined)?.error;
  const message = err
    ? `${err.code ?? "error"}: ${err.message ?? ""}`
    : `HTTP ${answer.status} ${answer.text.slice(0, 200)}`;
  return {
    kind: "response",
    status: answer.status,
    ...(err?.definite === undefined ? {} : { definite: err.definite }),
    message,
  };
}

type Try = NonNullable<OpRecord["tries"]>[number];

/** One request of an op as the history keeps it; its start includes the DNS lookup before it. */
function tryOf(address: string, startMs: number, endMs: number, r: AttemptResult): Try {
  const result = r.kind === "response" ? `HTTP ${r.status}${r.definite ? " definite" : ""}` : `${r.kind}: ${r.message}`;
  return { address, startMs, endMs, result: result.slice(0, verifyConstants.tryResultCharsMax) };
}

function failureOf(err: unknown, address: string): AttemptResult {
  const code = (err as { code?: string }).code ?? "";
  const message = `${address}: ${code ? `${code} ` : ""}${(err as Error).message}`;
  if (connectFailureCodes.has(code)) return { kind: "connect-failed", message };
  const timedOut = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT";
  return { kind: "no-response", timedOut, message };
}

type Body = {
  user?: string | null;
  session?: string | null;
  cart?: Record<string, number>;
  order?: { id?: string };
  orders?: { id: string; idempotencyKey?: string }[];
  items?: CatalogueItem[];
};

/** What the final answer showed, in the history's terms and as the user's observation. */
const cartShowing: ReadonlySet<string> = new Set(["cart.read", "cart.add", "cart.set", "cart.remove", "checkout"]);

function sawOf(
  action: Action,
  answer: Answer | undefined,
): { saw: Saw | undefined; seen: Observation; session?: string } {
  if (!answer) return { saw: undefined, seen: { ok: false, status: 0 } };
  const ok = answer.status >= 200 && answer.status < 400;
  if (answer.status === 401) return { saw: { sessionUser: null }, seen: { ok, status: 401, sessionUser: null } };
  const body = (ok && typeof answer.json === "object" && answer.json !== null ? answer.json : {}) as Body;
  if (!ok) return { saw: undefined, seen: { ok, status: answer.status } };
  const saw: { -readonly [K in keyof Saw]: Saw[K] } = {};
  if (action.kind !== "page" && action.kind !== "logout" && body.user !== undefined) saw.sessionUser = body.user;
  const cart =
    body.cart && typeof body.cart === "object"
      ? Object.fromEntries(Object.entries(body.cart).filter(([, q]) => typeof q === "number" && q > 0))
      : undefined;
  // A read's cart is the state before it, a cart mutation's answer the cart after it; the
  // checker (src/verify) checks each at its point, so every answer that shows a cart counts.
  if (cart && cartShowing.has(action.kind)) saw.cart = cart;
  if (action.kind === "checkout" && body.order?.id) saw.orderId = body.order.id;
  if (action.kind === "orders.read" && Array.isArray(body.orders)) {
    saw.orders = body.orders.map((o) => ({
      id: o.id,
      ...(o.idempotencyKey ? { idempotencyKey: o.idempotencyKey } : {}),
    }));
  }
  const seen: Observation = {
    ok,
    status: answer.status,
    ...(saw.sessionUser !== undefined ? { sessionUser: saw.sessionUser } : {}),
    ...(cart ? { cart } : {}),
    ...(action.request.path === "/api/catalogue" && Array.isArray(body.items) ? { catalogue: body.items } : {}),
  };
  const session = action.kind === "login" && typeof body.session === "string" ? body.session : undefined;
  return { saw: Object.keys(saw).length ? saw : undefined, seen, ...(session ? { session } : {}) };
}

/** Runs one op to its outcome; never throws for what the network or the shop did. */
export async function runOperation(
  ctx: UserContext,
  action: Action,
  key: string | undefined,
  stats: OpStats,
): Promise<{ record: OpRecord; seen: Observation }> {
  const mutation = mutationKinds.has(action.kind);
  const session = sessionIdOf(ctx.jar);
  const startMs = ctx.clock.monoMs();
  const results: AttemptResult[] = [];
  const tries: Try[] = [];
  let final: Answer | undefined;
  let failuresHere = 0;
  let triedInOp = 0;
  let fresh = false;
  for (;;) {
    let addresses: readonly string[];
    const startDnsMs = ctx.clock.monoMs();
    try {
      addresses = await ctx.dns.addresses({ fresh });
    } catch (err) {
      stats.dnsFailures++;
      // No address to send to: for this op it is as if every connection had failed.
      results.push({ kind: "connect-failed", message: (err as Error).message });
      tries.push(tryOf("dns", startDnsMs, ctx.clock.monoMs(), results.at(-1)!));
      const d = decideRetry(results.at(-1)!, results.length, ctx.clock.monoMs() - startMs, ctx.limits);
      if (!d.retry) break;
      await sleep(ctx.clock, backoffMs(results.length, ctx.jitter.next()));
      continue;
    }
    fresh = false;
    if (ctx.preferred.addresses !== addresses) ctx.preferred = { addresses, index: 0 };
    const address = addresses[ctx.preferred.index % addresses.length];
    let result: AttemptResult;
    try {
      final = await send(ctx, address, action, key);
      result = attemptOf(final);
    } catch (err) {
      final = undefined;
      result = failureOf(err, address);
    }
    results.push(result);
    tries.push(tryOf(address, startDnsMs, ctx.clock.monoMs(), result));
    failuresHere++;
    const d = decideRetry(result, results.length, ctx.clock.monoMs() - startMs, ctx.limits, failuresHere);
    if (!d.retry) break;
    if (d.nextAddress) {
      stats.nextAddress++;
      ctx.preferred.index = (ctx.preferred.index + 1) % addresses.length;
      failuresHere = 0;
      triedInOp++;
      // Every address failed once in this op: the answer may be stale; ask the DNS again.
      if (triedInOp >= addresses.length) {
        fresh = true;
        triedInOp = 0;
      }
    }
    if (d.backoff) await sleep(ctx.clock, backoffMs(results.length, ctx.jitter.next()));
  }
  const endMs = ctx.clock.monoMs();
  const outcome = finalOutcome(results, mutation);
  const { saw, seen, session: obtained } = sawOf(action, final);
  const site = final ? asString(final.headers["x-served-site"]) : undefined;
  const instance = final ? asString(final.headers["x-served-instance"]) : undefined;
  const sessionField = action.kind === "login" ? (obtained ?? session) : session;
  const record: OpRecord = {
    type: "op",
    kind: action.kind,
    user: ctx.user,
    region: ctx.region,
    ...(sessionField ? { session: sessionField } : {}),
    ...(key ? { idempotencyKey: key } : {}),
    startMs,
    endMs,
    attempts: Math.max(1, results.length),
    ...(tries.length > 1 ? { tries: tries.slice(0, verifyConstants.triesPerOpMax) } : {}),
    outcome,
    ...(site && instance ? { served: { site, instance } } : {}),
    ...(action.item !== undefined ? { item: action.item } : {}),
    ...(action.quantity !== undefined ? { quantity: action.quantity } : {}),
    ...(action.path !== undefined ? { path: action.path } : {}),
    ...(saw ? { saw } : {}),
  };
  return { record, seen };
}

export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimer(ms, resolve));
}
