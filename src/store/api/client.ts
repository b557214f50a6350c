// The TypeScript client of the store's HTTP API. It routes each request straight to a
// replica of the key's partition in its site (no extra hop through a coordinator that does
// not hold the key: Dynamo measured client-side routing halving p99.9), keeps pooled
// keep-alive connections per node, and fails over: the partition's next replica, then any
// other node of the site, on a connection failure, a timeout or a 5xx. A mutation keeps its
// op id on every retry, so a retry that reaches another node applies once. A client object
// carries the session token of everything it did, so it reads its own writes, also across
// a failover to another node.
import { randomUUID } from "node:crypto";
import { Pool, request } from "undici";
import type { RedshirtError } from "../../core/index.ts";
import { type Consistency, siteByName } from "../../topology/index.ts";
import type { Mutation, ReadResult } from "../api-types.ts";
import {
  clientAttemptShare,
  clientAttemptsMax,
  clientConnectionsPerNodeMax,
  clientConnectTimeoutMs,
  clientKeepAliveTimeoutMs,
  clientMembershipRefreshMinMs,
  clientMembershipRefreshMs,
  clientNodeDownMs,
  clientServerTimeoutShare,
  requestTimeoutMsDefault,
} from "../constants.ts";
import { storeErrors } from "../errors.ts";
import { mergeEncodedSessionTokens } from "../replication/session-encoding.ts";
import { BinaryConnection } from "./binary-client.ts";
import type { BinaryReply } from "./binary-protocol.ts";
import { ClientMembers, type ClientNode, parseMembershipView } from "./client-members.ts";
import type {
  AckOption,
  StoreCallOptions,
  StoreClient,
  StoreClientInit,
  StoreWriteOptions,
  StoreWriteOutcome,
} from "./client-types.ts";
import {
  checkConsistency,
  checkKey,
  checkTimeout,
  clientError,
  describe,
  errorCode,
  neverSent,
  parseJson,
  requestOf,
  serverError,
} from "./client-wire.ts";
import { storeHeaders } from "./http-headers.ts";

export type {
  FieldChanges,
  StoreCallOptions,
  StoreClient,
  StoreClientInit,
  StoreWriteOptions,
  StoreWriteOutcome,
} from "./client-types.ts";

type Node = ClientNode;
type Attempt = { node: string; failure: string };
export function createStoreClient(init: StoreClientInit): StoreClient {
  const { planet } = init;
  if (!siteByName(planet, init.site)) {
    throw storeErrors.create(
      "RS_ERR_STORE_BAD_REQUEST",
      `site: no site ${JSON.stringify(init.site)} in planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  const defaultConsistency = checkConsistency(init.consistency ?? planet.store.consistency);
  const defaultTimeoutMs = checkTimeout(init.timeoutMs ?? requestTimeoutMsDefault);
  const members = new ClientMembers(planet, siteByName(planet, init.site)!);
  const protocol = init.protocol ?? "binary";
  const pools = new Map<string, Pool>();
  const binaries = new Map<string, BinaryConnection>();
  /** Nodes that refused the binary protocol (an older version): they get HTTP. */
  const httpOnly = new Set<string>();
  const downUntilMs = new Map<string, number>();
  let closed = false;
  const directory = { refreshes: 0, refreshFailures: 0, lastFailure: undefined as string | undefined };
  let refreshing: Promise<void> | undefined;
  let lastRefreshMs = Number.NEGATIVE_INFINITY;
  const refreshTimer = setInterval(() => void refreshMembers(), clientMembershipRefreshMs);
  refreshTimer.unref();
  return makeView(init.session, false);

  /**
   * Asks a node (this site's first, then any) for the membership record and adopts it if
   * newer. Never throws: a failure is counted and kept (membershipStatus), and the client
   * goes on with the nodes it knew. At most one at a time, and not more often than
   * clientMembershipRefreshMinMs.
   */
  function refreshMembers(): Promise<void> {
    if (closed) return Promise.resolve();
    if (refreshing) return refreshing;
    if (performance.now() - lastRefreshMs < clientMembershipRefreshMinMs) return Promise.resolve();
    lastRefreshMs = performance.now();
    refreshing = (async () => {
      const home = new Set(members.homeIds());
      const order = [...members.homeIds(), ...members.ids().filter((id) => !home.has(id))];
      const failures: string[] = [];
      for (const id of order.slice(0, clientAttemptsMax)) {
        const node = members.get(id);
        if (!node || (downUntilMs.get(id) ?? 0) > performance.now()) continue;
        try {
          const res = await request(`${node.origin}/v1/membership`, {
            signal: AbortSignal.timeout(clientConnectTimeoutMs * 2),
          });
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          for (const gone of members.apply(parseMembershipView(JSON.parse(text)))) forget(gone);
          directory.refreshes++;
          return;
        } catch (err) {
          failures.push(`${id}: ${(err as Error).message}`);
        }
      }
      directory.refreshFailures++;
      directory.lastFailure = failures.join("; ") || "no node to ask";
    })().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /** A node that is no longer a member: its connections go. */
  function forget(id: string): void {
    binaries.get(id)?.close();
    binaries.delete(id);
    void pools.get(id)?.close();
    pools.delete(id);
    downUntilMs.delete(id);
    httpOnly.delete(id);
  }

  /** Everything that carries a session token: the client itself and each withSession view. */
  function makeView(session: string | undefined, isView: boolean): StoreClient {
    // Signed by the nodes; the client merges tokens without reading more than their shape.
    let token: string | undefined = session ? mergeEncodedSessionTokens(undefined, session, "session") : undefined;
    let viewClosed = false;

    function pool(node: Node): Pool {
      let p = pools.get(node.id);
      if (!p) {
        p = new Pool(node.origin, {
          connections: clientConnectionsPerNodeMax,
          pipelining: 1,
          keepAliveTimeout: clientKeepAliveTimeoutMs,
          connect: { timeout: clientConnectTimeoutMs },
        });
        pools.set(node.id, p);
      }
      return p;
    }

    function binary(node: Node): BinaryConnection {
      let c = binaries.get(node.id);
      if (!c) {
        c = new BinaryConnection(node.host, node.port);
        binaries.set(node.id, c);
      }
      return c;
    }

    type Exchanged = {
      status: number;
      sessionBack: string | string[] | undefined;
      parsed: Record<string, unknown> | undefined;
    };

    /** One attempt at one node; throws what the connection threw when no answer came. */
    async function exchange(
      node: Node,
      method: "GET" | "PUT" | "POST" | "DELETE",
      path: string,
      parts: { key: string; action: string | undefined; headers: Record<string, string>; body: string | undefined },
      consistency: Consistency,
      attemptMs: number,
      ackOnly: boolean,
    ): Promise<Exchanged> {
      const serverTimeoutMs = Math.max(1, Math.floor(attemptMs * clientServerTimeoutShare));
      if (protocol === "binary" && !httpOnly.has(node.id)) {
        let r: BinaryReply;
        try {
          r = await binary(node).request(
            {
              m: method,
              k: parts.key,
              ...(parts.action === undefined ? {} : { a: parts.action }),
              ...(parts.body === undefined ? {} : { b: parts.body }),
              ...(parts.headers[storeHeaders.opId] === undefined ? {} : { o: parts.headers[storeHeaders.opId] }),
              ...(token === undefined ? {} : { t: token }),
              c: consistency,
              ms: serverTimeoutMs,
              ...(ackOnly ? { ack: true } : {}),
            },
            attemptMs,
          );
        } catch (err) {
          if ((err as { code?: string }).code !== "RS_BINARY_UNSUPPORTED") throw err;
          // Nothing was taken: ask again over HTTP, now and from now on.
          httpOnly.add(node.id);
          return exchange(node, method, path, parts, consistency, attemptMs, ackOnly);
        }
        const b = r.b;
        const parsed = typeof b === "object" && b !== null && !Array.isArray(b) ? b : undefined;
        return { status: r.s, sessionBack: typeof r.t === "string" ? r.t : undefined, parsed };
      }
      const sessionHeader = token !== undefined ? { [storeHeaders.session]: token } : {};
      const res = await pool(node).request({
        method,
        path,
        body: parts.body,
        headers: {
          ...parts.headers,
          ...sessionHeader,
          "content-type": "application/json",
          [storeHeaders.consistency]: consistency,
          [storeHeaders.timeoutMs]: String(serverTimeoutMs),
        },
        signal: AbortSignal.timeout(attemptMs),
      });
      const sessionBack = res.headers[storeHeaders.session];
      const text = await res.body.text();
      return { status: res.statusCode, sessionBack, parsed: parseJson(text) };
    }

    function candidates(key: string): ClientNode[] {
      const now = performance.now();
      return members.candidates(key, (id) => (downUntilMs.get(id) ?? 0) > now, clientAttemptsMax);
    }

    type Sent = { status: number; body: Record<string, unknown>; node: string };

    /** Sends one logical request, failing over between nodes; returns the first answer that is not a node failure. */
    async function send(
      method: "GET" | "PUT" | "POST" | "DELETE",
      key: string,
      action: string | undefined,
      headers: Record<string, string>,
      body: string | undefined,
      options: (StoreCallOptions & AckOption) | undefined,
    ): Promise<Sent> {
      if (closed || viewClosed) throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", "the client is closed");
      checkKey(key);
      const timeoutMs = checkTimeout(options?.timeoutMs ?? defaultTimeoutMs);
      const consistency = checkConsistency(options?.consistency ?? defaultConsistency);
      const deadline = performance.now() + timeoutMs;
      const path = `/v1/kv/${encodeURIComponent(key)}${action ? `/${action}` : ""}`;
      const ackOnly = options?.ackOnly === true;
      const attempts: Attempt[] = [];
      let lastServerError: RedshirtError | undefined;
      // A write that may have been applied somewhere (an indefinite error, or a request that
      // left but got no answer): the caller must learn that, not "not applied".
      const write = method !== "GET";
      let lastIndefinite: RedshirtError | undefined;
      let unanswered = false;
      for (const node of candidates(key)) {
        const remainingMs = deadline - performance.now();
        if (remainingMs < 1) break;
        const attemptMs = Math.max(1, Math.floor(Math.min(remainingMs, timeoutMs * clientAttemptShare)));
        let status: number;
        let sessionBack: string | string[] | undefined;
        let parsed: Record<string, unknown> | undefined;
        try {
          ({ status, sessionBack, parsed } = await exchange(
            node,
            method,
            path,
            { key, action, headers, body },
            consistency,
            attemptMs,
            ackOnly,
          ));
        } catch (err) {
          downUntilMs.set(node.id, performance.now() + clientNodeDownMs);
          attempts.push({ node: node.id, failure: describe(err) });
          if (!neverSent(err)) unanswered = true;
          continue;
        }
        if (typeof sessionBack === "string" && sessionBack !== token) {
          try {
            token = mergeEncodedSessionTokens(token, sessionBack);
          } catch {
            // A node that sends a broken token is treated like one that sent none.
          }
        }
        if (status < 500) {
          downUntilMs.delete(node.id);
          return { status, body: parsed ?? {}, node: node.id };
        }
        const error = serverError(status, parsed);
        if (error) lastServerError = error;
        if (!error) unanswered = true;
        else if (error.definite !== true) lastIndefinite = error;
        // A 500 is a broken node; a 503 a node that could not do it now (stopping, overloaded,
        // short of replicas or behind the session). Either way another node may succeed.
        if (
          status !== 503 ||
          error?.code === "RS_ERR_STORE_SHUTTING_DOWN" ||
          error?.code === "RS_ERR_STORE_INTERRUPTED"
        ) {
          downUntilMs.set(node.id, performance.now() + clientNodeDownMs);
        }
        attempts.push({ node: node.id, failure: error ? error.code : `HTTP ${status}` });
      }
      // No node gave a usable answer: the nodes it knows may be out of date (a node replaced).
      void refreshMembers();
      // Indefinite outcomes win: the caller retries with the same op id (the client already
      // tried the other nodes with it). Only when every attempt certainly applied nothing is
      // the failure reported as definite.
      if (write && lastIndefinite) throw lastIndefinite;
      if (write && unanswered) {
        throw storeErrors.create(
          "RS_ERR_STORE_NO_ANSWER",
          `site ${init.site}: ${attempts.map((a) => `${a.node} ${a.failure}`).join("; ")}`,
          { detail: { attempts, opId: headers[storeHeaders.opId] } },
        );
      }
      if (lastServerError) throw lastServerError;
      throw storeErrors.create(
        "RS_ERR_STORE_UNAVAILABLE",
        `site ${init.site}: ${attempts.map((a) => `${a.node} ${a.failure}`).join("; ") || `no answer within ${timeoutMs} ms`}`,
        { detail: { attempts } },
      );
    }

    async function mutate(
      key: string,
      mutation: Mutation,
      options?: StoreWriteOptions & AckOption,
    ): Promise<StoreWriteOutcome> {
      const opId = options?.opId ?? randomUUID();
      const { method, action, payload } = requestOf(mutation);
      const ttlS = options?.ttlS ?? mutation.ttlS;
      const body = payload && JSON.stringify(ttlS === undefined ? payload : { ...payload, ttlS });
      const sent = await send(method, key, action, { [storeHeaders.opId]: opId }, body, options);
      if (sent.status !== 200) throw clientError(sent);
      const b = sent.body;
      const value: ReadResult = b.exists
        ? { exists: true, type: b.type as ReadResult["type"], value: b.value }
        : { exists: false };
      return { value, duplicate: b.duplicate === true, opId, node: sent.node };
    }

    return {
      get session() {
        return token;
      },
      async get(key, options) {
        const sent = await send("GET", key, undefined, {}, undefined, options);
        if (sent.status === 404 && errorCode(sent.body) === "RS_ERR_STORE_NOT_FOUND") return { exists: false };
        if (sent.status !== 200) throw clientError(sent);
        return { exists: true, type: sent.body.type as ReadResult["type"], value: sent.body.value };
      },
      async set(key, value, options) {
        return (await mutate(key, { kind: "set", value }, options)).value.value;
      },
      async put(key, value, options) {
        await mutate(key, { kind: "set", value }, { ...options, ackOnly: true });
      },
      async incr(key, by = 1, options) {
        return (await mutate(key, { kind: "incr", by }, options)).value.value as number;
      },
      async add(key, members, options) {
        return ((await mutate(key, { kind: "sadd", members }, options)).value.value ?? []) as string[];
      },
      async remove(key, members, options) {
        return ((await mutate(key, { kind: "srem", members }, options)).value.value ?? []) as string[];
      },
      async fields(key, changes, options) {
        // One logical operation of up to three ops: each gets an op id derived from the
        // operation's, so retrying the whole call applies each part once.
        const opId = options?.opId ?? randomUUID();
        const parts: Mutation[] = [];
        if (changes.set && Object.keys(changes.set).length > 0) parts.push({ kind: "mset", fields: changes.set });
        if (changes.incr && Object.keys(changes.incr).length > 0) parts.push({ kind: "mincr", fields: changes.incr });
        if (changes.remove && changes.remove.length > 0) parts.push({ kind: "mdel", fields: changes.remove });
        if (parts.length === 0)
          throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "fields: name at least one change");
        let last: StoreWriteOutcome | undefined;
        for (const m of parts) last = await mutate(key, m, { ...options, opId: `${opId}.${m.kind}` });
        return (last!.value.value ?? {}) as Record<string, unknown>;
      },
      async del(key, options) {
        await mutate(key, { kind: "del" }, { ...options, ackOnly: true });
      },
      mutate: (key, mutation, options) => mutate(key, mutation, options),
      withSession: (other) => makeView(other, true),
      membershipStatus: () => ({ epoch: members.epoch, nodes: members.ids(), ...directory }),
      refreshMembership: () => refreshMembers(),
      observeSession(other) {
        token = mergeEncodedSessionTokens(token, other, "session");
      },
      async close() {
        viewClosed = true;
        // A view's connections belong to the client it came from.
        if (isView) return;
        closed = true;
        clearInterval(refreshTimer);
        for (const c of binaries.values()) c.close();
        binaries.clear();
        await Promise.all([...pools.values()].map((p) => p.close()));
        pools.clear();
      },
    };
  }
}
