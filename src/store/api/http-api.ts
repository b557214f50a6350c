// The store's public face: HTTP/1.1 + JSON over node:http, in front of the engine
// (`StoreApi`). Apps in any language use it; docs/store.md is its manual. This layer owns
// framing, limits and validation: whatever a client sends, it answers with a 4xx that names
// the problem, or with what the engine said — never a crash. An error it did not expect is
// logged and answered 500 without details, because its message may leak internals.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Socket } from "node:net";
import {
  assert,
  isControlAuthorized,
  isRedshirtError,
  type Logger,
  RedshirtError,
  Registry,
  type Startable,
} from "../../core/index.ts";
import type { Planet } from "../../topology/index.ts";
import type { StoreApi } from "../api-types.ts";
import {
  httpBodyBytesMax,
  httpConnectionsMax,
  httpHeaderBytesMax,
  httpHeadersTimeoutMs,
  httpInflightMax,
  httpKeepAliveTimeoutMs,
  httpRequestsPerSocketMax,
  httpRequestTimeoutMs,
  httpRetryAfterS,
  httpStopGraceMs,
  storePeerPortOffset,
} from "../constants.ts";
import { storeErrors } from "../errors.ts";
import { createBinaryApi } from "./binary-api.ts";
import { parseClockSkew, type SkewedClock } from "./clock-skew.ts";
import { storeHttpErrors } from "./http-errors.ts";
import { storeHeaders } from "./http-headers.ts";
import { allowedMethods, methodAllowed, parseMembershipChange, parseTarget, type Target } from "./http-request.ts";
import { dispatchKv, type Reply } from "./kv-dispatch.ts";

export type StoreHttpServerInit = {
  readonly host: string;
  /** 0 lets the OS choose; `address` tells which it chose. */
  readonly port: number;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly planet: Planet;
  /** The planet secret: session tokens are signed with it, and refused when their signature fails. */
  readonly secret: Buffer;
  /** More Prometheus text for `/metrics` (the node-to-node transport's counters). */
  readonly metricsText?: () => string;
  /** The node's skewable wall clock (chaos); absent: the route answers 404. */
  readonly clockSkew?: SkewedClock;
};

export type StoreHttpServer = Startable & {
  /** Where the server listens; only after start(). */
  readonly address: { readonly host: string; readonly port: number };
};

export function createStoreHttpServer(api: StoreApi, init: StoreHttpServerInit): StoreHttpServer {
  const { logger, nodeId, planet, secret } = init;
  const metrics = new Registry();
  const requests = metrics.counter("rs_store_http_requests_total", "HTTP requests answered, by route and status.");
  const latency = metrics.histogram("rs_store_http_request_ms", "Time to answer an HTTP request, by route.");
  const inflightGauge = metrics.gauge("rs_store_http_inflight", "HTTP requests being worked on.");
  let inflight = 0;
  inflightGauge.collect(() => [[undefined, inflight]]);
  let stopping = false;
  let started: Promise<void> | undefined;
  let stopped: Promise<void> | undefined;
  let bound: { host: string; port: number } | undefined;

  const server = createServer({
    keepAlive: true,
    keepAliveTimeout: httpKeepAliveTimeoutMs,
    headersTimeout: httpHeadersTimeoutMs,
    requestTimeout: httpRequestTimeoutMs,
    maxHeaderSize: httpHeaderBytesMax,
    noDelay: true,
  });
  server.maxRequestsPerSocket = httpRequestsPerSocketMax;
  server.on("request", (req, res) => {
    void handle(req, res);
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket));
  const connectionErrors = metrics.counter(
    "rs_store_client_connection_errors_total",
    "Client connections that failed at the socket (resets, broken pipes), by stage and error code.",
  );
  const binary = createBinaryApi({
    api,
    planet,
    secret,
    logger,
    metrics,
    admit() {
      if (stopping) throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", nodeId);
      if (inflight >= httpInflightMax)
        throw storeErrors.create("RS_ERR_STORE_OVERLOADED", `${inflight} requests in flight`);
      inflight++;
    },
    release() {
      inflight--;
    },
    errorReply: (err, route) => errorReply(err, undefined, route),
    connectionError: (code) => connectionErrors.inc({ stage: "binary", code }),
  });
  // One port, two protocols: the listener reads a connection's first bytes; NUL starts the
  // binary protocol (binary-protocol.ts), anything else is handed to node:http untouched.
  /** Connections that have not sent their first byte yet (cut at stop: they hold nothing). */
  const sniffing = new Set<Socket>();
  const listener = createNetServer({ noDelay: true, keepAlive: true }, (socket) => {
    const sniffTimer = setTimeout(() => socket.destroy(), httpHeadersTimeoutMs);
    sniffing.add(socket);
    // A client that resets before its first byte went away; counted, nothing to answer.
    socket.on("error", (err: NodeJS.ErrnoException) => {
      connectionErrors.inc({ stage: "first-byte", code: err.code ?? "unknown" });
      socket.destroy();
    });
    socket.once("data", (head: Buffer) => {
      clearTimeout(sniffTimer);
      sniffing.delete(socket);
      socket.removeAllListeners("error");
      socket.pause();
      if (head[0] === 0) return binary.accept(socket, head);
      socket.unshift(head);
      server.emit("connection", socket);
      socket.resume();
    });
    socket.once("close", () => {
      clearTimeout(sniffTimer);
      sniffing.delete(socket);
    });
  });
  listener.maxConnections = httpConnectionsMax;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedMs = performance.now();
    let routeLabel = "unknown";
    inflight++;
    let reply: Reply;
    try {
      // The body is read first, whatever the route, so that every answer leaves the
      // connection at a request boundary and keep-alive survives a 4xx.
      const body = await readBody(req);
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const target = parseTarget(q < 0 ? url : url.slice(0, q));
      routeLabel = target.route === "kv" ? `kv${target.action ? `/${target.action}` : ""}` : target.route;
      if (!methodAllowed(req.method ?? "", target)) {
        throw storeHttpErrors.create("RS_ERR_STORE_METHOD_NOT_ALLOWED", `${req.method} ${routeLabel}`, {
          detail: { allow: allowedMethods(target) },
        });
      }
      routeLabel = `${req.method} ${routeLabel}`;
      if (stopping) throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", nodeId);
      if (inflight > httpInflightMax)
        throw storeErrors.create("RS_ERR_STORE_OVERLOADED", `${inflight} requests in flight`);
      reply = await dispatch(req, target, new URLSearchParams(q < 0 ? "" : url.slice(q + 1)), body);
    } catch (err) {
      reply = errorReply(err, req.method, routeLabel);
    } finally {
      inflight--;
    }
    reply.headers = { ...reply.headers, [storeHeaders.node]: nodeId };
    send(res, reply, stopping);
    requests.inc({ route: routeLabel, status: String(reply.status) });
    latency.observe(performance.now() - startedMs, { route: routeLabel });
  }

  async function dispatch(req: IncomingMessage, target: Target, query: URLSearchParams, body: string): Promise<Reply> {
    if (target.route === "healthz") {
      const health = api.health();
      return { status: health.ok ? 200 : 503, body: health };
    }
    if (target.route === "metrics") {
      return { status: 200, body: api.metricsText() + (init.metricsText?.() ?? "") + metrics.render() };
    }
    if (target.route === "cluster") return { status: 200, body: clusterView(planet, nodeId) };
    if (target.route === "trees") return { status: 200, body: { node: nodeId, roots: api.treeRoots() } };
    if (target.route === "membership") return membershipReply(req, body);
    if (target.route === "clock-skew") return clockSkewReply(req, body);
    const h = req.headers;
    const answer = await dispatchKv(
      api,
      { planet, secret },
      {
        method: req.method ?? "",
        key: target.key,
        action: target.action,
        body,
        query,
        consistency: header(h[storeHeaders.consistency]),
        session: header(h[storeHeaders.session]),
        timeoutMs: header(h[storeHeaders.timeoutMs]),
        opId: header(h[storeHeaders.opId]),
      },
    );
    if (answer.opId !== undefined) answer.reply.headers = { ...answer.reply.headers, [storeHeaders.opId]: answer.opId };
    return answer.reply;
  }

  function membershipReply(req: IncomingMessage, body: string): Reply {
    if (!api.membership || !api.changeMembership)
      throw storeHttpErrors.create("RS_ERR_STORE_NO_ROUTE", "/v1/membership");
    if (req.method === "GET") return { status: 200, body: api.membership() };
    if (!isControlAuthorized(secret, header(req.headers.authorization))) {
      throw storeHttpErrors.create(
        "RS_ERR_STORE_UNAUTHORIZED",
        req.headers.authorization ? "the token does not match" : "no Authorization header",
      );
    }
    return { status: 200, body: api.changeMembership(parseMembershipChange(body)) };
  }

  function clockSkewReply(req: IncomingMessage, body: string): Reply {
    const clock = init.clockSkew;
    if (!clock) throw storeHttpErrors.create("RS_ERR_STORE_NO_ROUTE", "/v1/admin/clock-skew");
    // Reading it too needs the token: it is an operator's knob, not part of the data API.
    if (!isControlAuthorized(secret, header(req.headers.authorization))) {
      throw storeHttpErrors.create(
        "RS_ERR_STORE_UNAUTHORIZED",
        req.headers.authorization ? "the token does not match" : "no Authorization header",
      );
    }
    if (req.method === "GET") return { status: 200, body: { node: nodeId, skew: clock.view() } };
    const change = parseClockSkew(body);
    logger.warn("clock skew set (chaos)", { ...change });
    return { status: 200, body: { node: nodeId, skew: clock.skew(change) } };
  }

  function errorReply(err: unknown, method: string | undefined, routeLabel: string): Reply {
    if (isRedshirtError(err)) {
      const headers: Record<string, string> = {};
      if (err.code === "RS_ERR_STORE_METHOD_NOT_ALLOWED") headers.allow = String(err.detail?.allow ?? "");
      if (err.status === 503) headers["retry-after"] = String(httpRetryAfterS);
      return { status: err.status, body: err.toJSON(), headers };
    }
    logger.error("unexpected error answering a store request", {
      route: routeLabel,
      method,
      err: err instanceof Error ? err.message : String(err),
      stack: err instanceof Error ? err.stack : undefined,
    });
    return { status: 500, body: { error: { message: "Internal error; the node logged the cause" } } };
  }

  return {
    get address() {
      assert(bound, "the store HTTP server has no address before start()");
      return bound;
    },
    start() {
      started ??= new Promise<void>((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        listener.once("error", onError);
        listener.listen({ host: init.host, port: init.port }, () => {
          listener.off("error", onError);
          listener.on("error", (e) => logger.error("store HTTP server error", { err: e.message }));
          // node:http tracks its connections (idle ones to close, head and request timeouts)
          // from its own 'listening' event: it never listens itself here, so it is told.
          server.emit("listening");
          const a = listener.address();
          assert(a && typeof a === "object", "a TCP server has an address object");
          bound = { host: a.address, port: a.port };
          logger.info("store HTTP API listening", { host: a.address, port: a.port });
          resolve();
        });
      });
      return started;
    },
    stop() {
      if (!started) return Promise.resolve();
      stopped ??= started
        .catch(() => undefined)
        .then(
          () =>
            new Promise<void>((resolve) => {
              stopping = true;
              if (!listener.listening) return resolve();
              // close() stops accepting; idle keep-alive connections are closed now, busy ones
              // get a grace period to finish, then are cut. The listener's callback runs once
              // every connection of either protocol is gone.
              const timer = setTimeout(() => server.closeAllConnections(), httpStopGraceMs);
              listener.close(() => {
                clearTimeout(timer);
                resolve();
              });
              // Closes the idle HTTP connections and stops node:http's timeout checks (it is not
              // listening itself, so it only reports that in the callback).
              server.close(() => undefined);
              void binary.stop(httpStopGraceMs);
              for (const socket of sniffing) socket.destroy();
            }),
        );
      return stopped;
    },
  };
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(",") : v;
}

/** What a client needs to route: the planet, its partitioning, and every store node's address. */
export function clusterView(planet: Planet, nodeId: string) {
  const self = planet.storeNodes.find((n) => n.id === nodeId);
  return {
    planet: planet.name,
    node: nodeId,
    site: self?.site,
    partitions: planet.store.partitions,
    rf: planet.store.rf,
    consistency: planet.store.consistency,
    peerPortOffset: storePeerPortOffset,
    sites: planet.sites.map((s) => ({
      name: s.name,
      nodes: planet.storeNodes.filter((n) => n.site === s.name).map((n) => ({ id: n.id, host: n.host, port: n.port })),
    })),
  };
}

/** Reads a request body up to the limit; a longer one is RS_ERR_STORE_VALUE_TOO_LARGE. */
async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > httpBodyBytesMax) {
    throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `the body declares ${declared} bytes`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > httpBodyBytesMax) {
      throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `the body is over ${httpBodyBytesMax} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString("utf8");
}

function send(res: ServerResponse, reply: Reply, closeAfter: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const text = typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
  const type = typeof reply.body === "string" ? "text/plain; version=0.0.4; charset=utf-8" : "application/json";
  const headers: Record<string, string | number> = {
    "content-type": type,
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...reply.headers,
  };
  // A request whose body was not read to the end (it was too large) leaves bytes on the
  // connection that are not a request: close it rather than parse them.
  if (closeAfter || !res.req.complete) headers.connection = "close";
  res.writeHead(reply.status, headers);
  res.end(text);
}

function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  const text = JSON.stringify(
    new RedshirtError(
      "RS_ERR_STORE_BAD_REQUEST",
      storeErrors.codes.RS_ERR_STORE_BAD_REQUEST,
      `not a valid HTTP/1.1 request (${err.code ?? "parse error"})`,
    ).toJSON(),
  );
  socket.end(
    `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request"}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}
