// The DNS server's admin endpoint (HTTP on its address, DNS port + 1):
//   GET /healthz                 this process is up
//   GET /metrics                 Prometheus metrics
//   GET /_redshirt/dns/view      this server's own probe view and weights (read by peers)
//   GET /_redshirt/dns/status    the consensus per site and gateway, peers, weights (for people)
//   GET /_redshirt/dns/weights   the current site weights
//   PUT /_redshirt/dns/weights   replace them: {"weights": {"<site>": 0..100}}
//   PUT /_redshirt/dns/weights/<site>  set one site's: {"weight": 0..100}
// Reads are open (peers read the view without credentials; it holds nothing secret). A write
// steers users of the whole planet, so it needs the planet's control token (the one the
// supervisors and the WAN links take): `Authorization: Bearer <controlBearerToken(secret)>`.
import http from "node:http";
import { isControlAuthorized, isRedshirtError, type Logger, type Startable } from "../../core/index.ts";
import { adminBodyBytesMax } from "./constants.ts";
import { dnsErrors } from "./errors.ts";

export type AdminRoutes = {
  readonly metrics: () => string;
  readonly view: () => unknown;
  readonly status: () => unknown;
  readonly weights: () => unknown;
  readonly setWeights: (body: unknown) => unknown;
  readonly setSiteWeight: (site: string, body: unknown) => unknown;
  /** Called for each write refused for want of the token (counted by the server). */
  readonly unauthorized: () => void;
};

export type AdminOptions = {
  readonly host: string;
  readonly port: number;
  readonly routes: AdminRoutes;
  readonly logger: Logger;
  /** The planet secret: writes need its control token. */
  readonly secret: Buffer;
};

function sendJson(
  res: http.ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.length;
      if (bytes > adminBodyBytesMax) {
        reject(dnsErrors.create("RS_ERR_TRAFFIC_DNS_BODY_TOO_LARGE", `over ${adminBodyBytesMax} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch (cause) {
        reject(dnsErrors.create("RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS", "the body is not JSON", { cause }));
      }
    });
    req.on("error", reject);
  });
}

export class AdminServer implements Startable {
  readonly #o: AdminOptions;
  #server: http.Server | undefined;
  #port = 0;

  constructor(options: AdminOptions) {
    this.#o = options;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    if (this.#server) return;
    const server = http.createServer((req, res) => {
      this.#route(req, res).catch((err) => {
        const e = isRedshirtError(err) ? err : undefined;
        if (!e) this.#o.logger.error("admin request failed", { err, url: req.url });
        if (!res.headersSent) sendJson(res, e?.status ?? 500, e?.toJSON() ?? { error: { message: "internal error" } });
        else res.destroy();
      });
    });
    server.requestTimeout = 5_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (cause) =>
        reject(dnsErrors.create("RS_ERR_TRAFFIC_DNS_LISTEN", `admin http ${this.#o.host}:${this.#o.port}`, { cause })),
      );
      server.listen(this.#o.port, this.#o.host, () => resolve());
    });
    const addr = server.address();
    this.#port = typeof addr === "object" && addr ? addr.port : this.#o.port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Answers 401 and returns false unless the request carries the planet's control token. */
  #authorized(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (isControlAuthorized(this.#o.secret, req.headers.authorization)) return true;
    this.#o.routes.unauthorized();
    req.resume();
    const e = dnsErrors.create(
      "RS_ERR_TRAFFIC_DNS_UNAUTHORIZED",
      req.headers.authorization ? "the token does not match" : "no Authorization header",
    );
    sendJson(res, e.status, e.toJSON(), { "www-authenticate": 'Bearer realm="redshirt"' });
    return false;
  }

  async #route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { routes } = this.#o;
    const path = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    if (method === "GET" && path === "/healthz") return sendJson(res, 200, { ok: true });
    if (method === "GET" && path === "/metrics") {
      const body = routes.metrics();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4", "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (method === "GET" && path === "/_redshirt/dns/view") return sendJson(res, 200, routes.view());
    if (method === "GET" && path === "/_redshirt/dns/status") return sendJson(res, 200, routes.status());
    const write = method === "PUT" || method === "POST";
    if (path === "/_redshirt/dns/weights") {
      if (method === "GET") return sendJson(res, 200, routes.weights());
      if (write && this.#authorized(req, res)) return sendJson(res, 200, routes.setWeights(await readBody(req)));
      if (write) return;
    }
    const site = /^\/_redshirt\/dns\/weights\/([a-z][a-z0-9-]{0,30})$/.exec(path)?.[1];
    if (site && write) {
      if (!this.#authorized(req, res)) return;
      return sendJson(res, 200, routes.setSiteWeight(site, await readBody(req)));
    }
    throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_NOT_FOUND", `${method} ${path}`);
  }
}
