// The supervisor's control API over HTTP/1.1: every endpoint of api.ts's table, each behind
// `Authorization: Bearer <controlBearerToken(secret)>` (401 otherwise), JSON in and out,
// errors as `{"error": {"code", "message"}}` with the code's status. A handler that throws
// something other than a RedshirtError answers 500, is counted and logged, never crashes
// the supervisor. GET /healthz (no token) says only that the process answers.
import http from "node:http";
import { isControlAuthorized, isRedshirtError, type Logger, type RedshirtError } from "../../core/index.ts";
import type { SupervisorMetrics } from "../supervisor/metrics.ts";
import { controlBodyBytesMax, controlRoutes, matchRoute, type RouteName } from "./api.ts";
import { controlErrors } from "./errors.ts";

export type ControlRequest = { readonly params: Readonly<Record<string, string>>; readonly body: unknown };
export type ControlReply = { readonly status: number; readonly body: unknown; readonly contentType?: string };
/** One handler per route of the table; a missing one is a type error. */
export type ControlHandlers = Record<Exclude<RouteName, "index">, (req: ControlRequest) => Promise<ControlReply>>;

export type ControlServerOptions = {
  readonly host: string;
  readonly port: number;
  readonly secret: Buffer;
  readonly handlers: ControlHandlers;
  readonly log: Logger;
  readonly metrics: SupervisorMetrics;
};

function send(res: http.ServerResponse, reply: ControlReply): void {
  const text =
    typeof reply.body === "string" && reply.contentType ? reply.body : `${JSON.stringify(reply.body, null, 1)}\n`;
  res.writeHead(reply.status, {
    "content-type": reply.contentType ?? "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function errorReply(err: RedshirtError): ControlReply {
  return { status: err.status, body: err.toJSON() };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.length;
      if (bytes > controlBodyBytesMax) {
        reject(controlErrors.create("RS_ERR_CATTLE_CONTROL_BODY_TOO_LARGE", `more than ${controlBodyBytesMax} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.once("error", reject);
  });
}

export class ControlServer {
  readonly #o: ControlServerOptions;
  #server: http.Server | undefined;

  constructor(options: ControlServerOptions) {
    this.#o = options;
  }

  get port(): number {
    const a = this.#server?.address();
    return typeof a === "object" && a ? a.port : this.#o.port;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = http.createServer((req, res) => void this.#handle(req, res));
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.#o.port, this.#o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1_000).unref();
    await closed;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { log, metrics } = this.#o;
    const path = (req.url ?? "/").split("?")[0];
    let route = "unmatched";
    let reply: ControlReply;
    try {
      if (path === "/healthz" && (req.method === "GET" || req.method === "HEAD")) {
        route = "healthz";
        reply = { status: 200, body: { ok: true } };
      } else if (!isControlAuthorized(this.#o.secret, req.headers.authorization)) {
        metrics.controlUnauthorized.inc();
        reply = errorReply(
          controlErrors.create(
            "RS_ERR_CATTLE_CONTROL_UNAUTHORIZED",
            req.headers.authorization ? "the token does not match" : "no Authorization header",
          ),
        );
      } else {
        const m = matchRoute(req.method ?? "", path);
        if (!m.ok) {
          throw controlErrors.create(
            m.code === "METHOD" ? "RS_ERR_CATTLE_CONTROL_METHOD" : "RS_ERR_CATTLE_CONTROL_NOT_FOUND",
            `${req.method} ${path}`,
          );
        }
        route = m.route;
        const text = await readBody(req);
        let body: unknown;
        if (text.trim()) {
          try {
            body = JSON.parse(text);
          } catch {
            throw controlErrors.create("RS_ERR_CATTLE_CONTROL_BAD_REQUEST", "the body is not JSON");
          }
        }
        reply =
          m.route === "index"
            ? { status: 200, body: { api: 1, routes: controlRoutes } }
            : await this.#o.handlers[m.route]({ params: m.params, body });
      }
    } catch (err) {
      if (isRedshirtError(err)) reply = errorReply(err);
      else {
        metrics.controlFailures.inc({ route });
        log.error("control handler failed", { route, err });
        reply = { status: 500, body: { error: { code: "internal", message: (err as Error)?.message ?? String(err) } } };
      }
    }
    metrics.controlRequests.inc({ route, status: String(reply.status) });
    send(res, reply);
  }
}
