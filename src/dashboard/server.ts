// The dashboard's HTTP/1.1 server: the page and its assets (plain JS and CSS of
// src/dashboard/public, uPlot's files from node_modules: nothing from anywhere else), the
// planet's layout and world map (GET /api/hello), the live event stream (GET /api/events,
// server-sent events), and the actions (POST /api/actions/:name), which need the planet's
// control token as `Authorization: Bearer …` — the same token the supervisors take. Without
// it the page is read-only: the server refuses every action with 401.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isControlAuthorized, isRedshirtError, type Logger, type Registry } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import { actionNames, parseAction } from "./actions.ts";
import { actionBodyBytesMax, streamsMax } from "./constants.ts";
import type { PlanetDashboard, Push } from "./dashboard.ts";
import { dashboardErrors } from "./errors.ts";

const require = createRequire(import.meta.url);
const publicDir = fileURLToPath(new URL("./public/", import.meta.url));

type Asset = { readonly file: string; readonly type: string };
const assets: Record<string, Asset> = {
  "/": { file: `${publicDir}index.html`, type: "text/html; charset=utf-8" },
  "/app.js": { file: `${publicDir}app.js`, type: "text/javascript; charset=utf-8" },
  "/map.js": { file: `${publicDir}map.js`, type: "text/javascript; charset=utf-8" },
  "/panels.js": { file: `${publicDir}panels.js`, type: "text/javascript; charset=utf-8" },
  "/charts.js": { file: `${publicDir}charts.js`, type: "text/javascript; charset=utf-8" },
  "/style.css": { file: `${publicDir}style.css`, type: "text/css; charset=utf-8" },
  "/vendor/uplot.js": { file: require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" },
  "/vendor/uplot.css": { file: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css; charset=utf-8" },
};

// Only our own address: no CDN, no font, no frame, no form posting elsewhere.
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export type DashboardServerOptions = {
  readonly host: string;
  readonly port: number;
  readonly planet: Planet;
  readonly secret: Buffer;
  readonly dashboard: PlanetDashboard;
  readonly log: Logger;
  readonly metrics: Registry;
};

export class DashboardServer {
  readonly #o: DashboardServerOptions;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();
  readonly #unauthorized;
  readonly #actions;
  readonly #httpErrors;
  readonly #streamsRefused;

  constructor(o: DashboardServerOptions) {
    this.#o = o;
    this.#unauthorized = o.metrics.counter(
      "redshirt_dashboard_unauthorized_total",
      "Actions refused for a missing or wrong control token",
    );
    this.#actions = o.metrics.counter("redshirt_dashboard_actions_total", "Actions run, by action and result");
    this.#httpErrors = o.metrics.counter(
      "redshirt_dashboard_http_errors_total",
      "Requests answered with an unexpected error (a bug: look at the log)",
    );
    this.#streamsRefused = o.metrics.counter(
      "redshirt_dashboard_streams_refused_total",
      "Event streams refused because streamsMax were open",
    );
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err) => {
        this.#httpErrors.inc();
        o.log.error("dashboard: request failed", { err, url: req.url });
        if (!res.headersSent) this.#error(res, dashboardErrors.create("RS_ERR_DASHBOARD_ACTION_FAILED", String(err)));
        else res.destroy();
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.#streams) s.end();
    this.#streams.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #error(res: ServerResponse, err: unknown): void {
    const e = isRedshirtError(err) ? err : dashboardErrors.create("RS_ERR_DASHBOARD_ACTION_FAILED", String(err));
    this.#json(res, e.status, { error: { code: e.code, message: e.message, ...(e.detail ?? {}) } });
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...securityHeaders });
    res.end(JSON.stringify(body));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://dashboard").pathname;
    const method = req.method ?? "GET";
    if (method === "POST" && path.startsWith("/api/actions/")) return await this.#action(req, res, path.slice(13));
    if (method !== "GET" && method !== "HEAD") {
      return this.#error(res, dashboardErrors.create("RS_ERR_DASHBOARD_NOT_FOUND", `${method} ${path}`));
    }
    const asset = assets[path] ?? (path === "/index.html" ? assets["/"] : undefined);
    if (asset) {
      res.writeHead(200, { "content-type": asset.type, "cache-control": "no-cache", ...securityHeaders });
      res.end(readFileSync(asset.file));
      return;
    }
    switch (path) {
      case "/api/hello":
        return this.#json(res, 200, this.#o.dashboard.hello());
      case "/api/events":
        return this.#stream(req, res);
      case "/api/actions":
        return this.#json(res, 200, {
          actions: actionNames,
          auth: "Authorization: Bearer <the planet's control token>",
        });
      case "/metrics":
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        res.end(this.#o.metrics.render());
        return;
      case "/healthz":
        return this.#json(res, 200, { ok: true });
      case "/favicon.ico":
        res.writeHead(204);
        res.end();
        return;
    }
    this.#error(res, dashboardErrors.create("RS_ERR_DASHBOARD_NOT_FOUND", `GET ${path}`));
  }

  #stream(req: IncomingMessage, res: ServerResponse): void {
    if (this.#streams.size >= streamsMax) {
      this.#streamsRefused.inc();
      this.#error(res, dashboardErrors.create("RS_ERR_DASHBOARD_BUSY", `${streamsMax} streams are open`));
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
      ...securityHeaders,
    });
    // The page reconnects a second after losing the server (the browser's EventSource does it).
    res.write(`retry: 1000\nevent: hello\ndata: ${JSON.stringify(this.#o.dashboard.hello())}\n\n`);
    this.#streams.add(res);
    const unsubscribe = this.#o.dashboard.subscribe((p: Push) => {
      // A page that cannot keep up (its socket's buffer full) skips views; it gets the next one.
      if (p.type === "view" && res.writableNeedDrain) return;
      res.write(`event: ${p.type}\ndata: ${JSON.stringify(p.data)}\n\n`);
    });
    req.socket.setNoDelay(true);
    res.on("close", () => {
      unsubscribe();
      this.#streams.delete(res);
    });
  }

  async #action(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (!isControlAuthorized(this.#o.secret, req.headers.authorization)) {
      this.#unauthorized.inc();
      req.resume();
      return this.#error(
        res,
        dashboardErrors.create(
          "RS_ERR_DASHBOARD_UNAUTHORIZED",
          req.headers.authorization ? "the bearer token is not the planet's" : "no Authorization header",
        ),
      );
    }
    let body: unknown;
    try {
      body = await readJson(req);
      const action = parseAction(this.#o.planet, decodeURIComponent(name), body);
      const answer = await this.#o.dashboard.run(action);
      this.#actions.inc({ action: action.name, result: "ok" });
      this.#json(res, 200, { ok: true, action: action.name, answer });
    } catch (err) {
      this.#actions.inc({ action: name.slice(0, 32), result: "error" });
      this.#error(res, err);
    }
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > actionBodyBytesMax) {
      throw dashboardErrors.create("RS_ERR_DASHBOARD_BAD_REQUEST", `body: more than ${actionBodyBytesMax} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw dashboardErrors.create("RS_ERR_DASHBOARD_BAD_REQUEST", `body: not JSON (${(cause as Error).message})`);
  }
}
