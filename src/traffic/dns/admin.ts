// The DNS server's admin endpoint (HTTP on its management address .7.k, never the public
// DNS address .3.k; the DNS port + 1):
//   GET /healthz                 this process is up
//   GET /metrics                 Prometheus metrics
//   GET /_redshirt/dns/view      this server's own probe view and weights (read by peers)
//   GET /_redshirt/dns/status    the consensus per site and gateway, peers, weights (for people)
//   GET /_redshirt/dns/weights   the current site weights
//   PUT /_redshirt/dns/weights   replace them: {"weights": {"<site>": 0..100}}
//   PUT /_redshirt/dns/weights/<site>  set one site's: {"weight": 0..100}
// Reads are open (peers read the view without credentials; it holds nothing secret). A write
// steers users of the whole planet, so it needs the planet's control token (the one the
// supervisors and the WAN links take): `Authorization: Bearer <controlBearerToken(secret)>`,
// and is a PUT with `Content-Type: application/json` — which no HTML form can send, so a
// web page an operator visits cannot forge one (a form POST gets 405, another type 415) —
// and, when a browser says where it comes from (`Origin`, `Sec-Fetch-Site`), from here only.
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
  /** Called for each write refused for its method, content type or origin (counted by the server). */
  readonly refused: (reason: "method" | "content-type" | "cross-site") => void;
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

  /**
   * Whether a write may go ahead: PUT, the planet's control token, a JSON body, and not sent
   * by a browser from another origin. Otherwise answers the error (405, 401, 415, 403) and
   * returns false; nothing changes.
   */
  #writable(req: http.IncomingMessage, res: http.ServerResponse, allow: string): boolean {
    const refuse = (e: ReturnType<typeof dnsErrors.create>, headers: Record<string, string> = {}): false => {
      req.resume();
      sendJson(res, e.status, e.toJSON(), headers);
      return false;
    };
    if (req.method !== "PUT") {
      this.#o.routes.refused("method");
      return refuse(dnsErrors.create("RS_ERR_TRAFFIC_DNS_METHOD", `${req.method} is not a write here`), { allow });
    }
    if (!isControlAuthorized(this.#o.secret, req.headers.authorization)) {
      this.#o.routes.unauthorized();
      const why = req.headers.authorization ? "the token does not match" : "no Authorization header";
      return refuse(dnsErrors.create("RS_ERR_TRAFFIC_DNS_UNAUTHORIZED", why), {
        "www-authenticate": 'Bearer realm="redshirt"',
      });
    }
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      this.#o.routes.refused("content-type");
      return refuse(dnsErrors.create("RS_ERR_TRAFFIC_DNS_CONTENT_TYPE", `Content-Type: ${type || "(none)"}`));
    }
    const site = req.headers["sec-fetch-site"];
    const origin = req.headers.origin;
    const self = `http://${req.headers.host ?? ""}`;
    if (
      (site !== undefined && site !== "same-origin" && site !== "none") ||
      (origin !== undefined && origin !== self)
    ) {
      this.#o.routes.refused("cross-site");
      const what = origin !== undefined && origin !== self ? `Origin: ${origin}` : `Sec-Fetch-Site: ${site}`;
      return refuse(dnsErrors.create("RS_ERR_TRAFFIC_DNS_CROSS_SITE", what));
    }
    return true;
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
    if (path === "/_redshirt/dns/weights") {
      if (method === "GET" || method === "HEAD") return sendJson(res, 200, routes.weights());
      if (!this.#writable(req, res, "GET, PUT")) return;
      return sendJson(res, 200, routes.setWeights(await readBody(req)));
    }
    const site = /^\/_redshirt\/dns\/weights\/([a-z][a-z0-9-]{0,30})$/.exec(path)?.[1];
    if (site) {
      if (!this.#writable(req, res, "PUT")) return;
      return sendJson(res, 200, routes.setSiteWeight(site, await readBody(req)));
    }
    throw dnsErrors.create("RS_ERR_TRAFFIC_DNS_NOT_FOUND", `${method} ${path}`);
  }
}
