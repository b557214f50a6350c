// Sessions kept in the store, never in the instance: the cookie holds only the session id
// and the store's session token (`<id>.<token>`), so any instance in any site resolves the
// session, and the token lets each request read the writes of the ones before it — also
// after a failover to another site. No sticky sessions.
//
// Each request gets its own view of the store client (`withSession`, sharing connections)
// carrying the cookie's token; after the request the view's token has advanced and the app
// sends it back in a fresh cookie (`sessionCookie`).
import { createHash, randomBytes } from "node:crypto";
import { type Counter, isRedshirtError } from "../core/index.ts";
import {
  mergeEncodedSessionTokens,
  type ReadResult,
  type StoreClient,
  type StoreWriteOptions,
} from "../store/index.ts";
import { sessionCookieName, sessionIdChars, sessionKeyPrefix, sessionTtlSDefault } from "./constants.ts";
import { parseCookies } from "./http-kit.ts";

/** What a request must show to resolve its session: a node:http IncomingMessage, or `{ headers: { cookie } }` from any framework. */
export type CookieCarrier = { readonly headers: { readonly cookie?: string | undefined } };

export type SessionRecord = { readonly user: string; readonly createdAtIso: string };

/** What one request knows of its session. */
export type RequestSession = {
  /** The request's view of the store, carrying the cookie's session token. */
  readonly store: StoreClient;
  /** The session id from the cookie (whether or not the store still holds it). */
  readonly id: string | undefined;
  /** The account of the session, when the store holds it; undefined without a session. */
  readonly user: string | undefined;
  /** The token the cookie carried (undefined: none, or one that was not a token). */
  readonly tokenIn: string | undefined;
};

export type SessionsInit = {
  readonly store: StoreClient;
  readonly ttlS?: number;
  readonly cookieName?: string;
  /** Mark cookies `Secure` (behind TLS). */
  readonly secure?: boolean;
  /** Counted when a cookie's token is malformed or refused by the store (it is dropped; the session still resolves). */
  readonly badTokens?: Counter;
  /** Options of the session's writes (e.g. consistency "global" so a site loss keeps them). */
  readonly writeOptions?: StoreWriteOptions;
};

export type Sessions = {
  /** Reads the cookie, makes the request's store view and resolves the session's user in the store. */
  resolve(req: CookieCarrier): Promise<RequestSession>;
  /**
   * Creates a session for `user`. Given an opId (e.g. from an Idempotency-Key), the session id
   * is derived from it, so a retried login makes the same session once.
   */
  login(view: StoreClient, user: string, opId?: string): Promise<string>;
  /** Removes the session from the store. */
  logout(view: StoreClient, id: string, opId?: string): Promise<void>;
  /** The set-cookie value for the session id and the view's current token; an undefined id drops the session (the token stays). */
  cookie(id: string | undefined, view: StoreClient): string;
  readonly ttlS: number;
};

const sessionIdRe = /^[A-Za-z0-9_-]{1,64}$/;

export function sessionIdFor(opId: string | undefined): string {
  if (opId === undefined) return randomBytes(16).toString("base64url").slice(0, sessionIdChars);
  return createHash("sha256").update(`session\u0000${opId}`).digest("base64url").slice(0, sessionIdChars);
}

export function createSessions(init: SessionsInit): Sessions {
  const ttlS = init.ttlS ?? sessionTtlSDefault;
  const name = init.cookieName ?? sessionCookieName;
  const attributes = `Path=/; HttpOnly; SameSite=Lax${init.secure ? "; Secure" : ""}`;

  function fromCookie(req: CookieCarrier): { id: string | undefined; token: string | undefined } {
    const raw = parseCookies(req.headers.cookie).get(name);
    if (!raw) return { id: undefined, token: undefined };
    const dot = raw.indexOf(".");
    const id = dot < 0 ? raw : raw.slice(0, dot);
    let token = dot < 0 || dot === raw.length - 1 ? undefined : raw.slice(dot + 1);
    if (token !== undefined) {
      try {
        mergeEncodedSessionTokens(undefined, token, "cookie");
      } catch {
        // A browser's cookie jar or a proxy mangled it: read without it (maybe stale) rather than fail.
        init.badTokens?.inc();
        token = undefined;
      }
    }
    return { id: sessionIdRe.test(id) ? id : undefined, token };
  }

  return {
    ttlS,
    async resolve(req) {
      const { id, token } = fromCookie(req);
      let store = init.store.withSession(token);
      if (id === undefined) return { store, id: undefined, user: undefined, tokenIn: token };
      let got: ReadResult;
      try {
        got = await store.get(`${sessionKeyPrefix}${id}`);
      } catch (err) {
        if (!isRedshirtError(err, "RS_ERR_STORE_BAD_SESSION")) throw err;
        // Well formed but not signed by this planet's store (a planet made anew, a replaced
        // secret): without it the browser would be refused on every request until its cookie
        // went. Read without it; the answer's cookie replaces it.
        init.badTokens?.inc();
        store = init.store.withSession(undefined);
        got = await store.get(`${sessionKeyPrefix}${id}`);
      }
      const record = got.exists ? (got.value as Partial<SessionRecord> | null) : undefined;
      const user = typeof record?.user === "string" ? record.user : undefined;
      return { store, id, user, tokenIn: token };
    },
    async login(view, user, opId) {
      const id = sessionIdFor(opId);
      const record: SessionRecord = { user, createdAtIso: new Date().toISOString() };
      await view.put(`${sessionKeyPrefix}${id}`, record, {
        ...init.writeOptions,
        ttlS,
        ...(opId === undefined ? {} : { opId: `${opId}.session` }),
      });
      return id;
    },
    async logout(view, id, opId) {
      await view.del(`${sessionKeyPrefix}${id}`, {
        ...init.writeOptions,
        ...(opId === undefined ? {} : { opId: `${opId}.logout` }),
      });
    },
    cookie(id, view) {
      const token = view.session;
      // Without a session the cookie keeps the token alone: the next login of this browser
      // still reads the writes made before the logout.
      if (id === undefined) {
        return token ? `${name}=.${token}; ${attributes}; Max-Age=${ttlS}` : `${name}=; ${attributes}; Max-Age=0`;
      }
      return `${name}=${id}${token ? `.${token}` : ""}; ${attributes}; Max-Age=${ttlS}`;
    },
  };
}
