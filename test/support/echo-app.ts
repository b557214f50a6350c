// A tiny app instance for gateway tests: answers every request with its own identity and
// what it saw (method, path, headers, body size), serves /healthz, waits ?delayMs=N before
// answering, and echoes bytes back after a WebSocket-style upgrade. Every arrival is
// logged as a JSON line on stderr, so a test can count how often a request reached an app.
// With --planet it registers itself through the SDK (a lease in its site's registry, drain
// on SIGTERM); `/control/reset?v=1` makes it reset every app request while /healthz stays
// 200 (what an overloaded instance looks like to a gateway). `?status=N&rsError=CODE`
// answers with that status and an RS-Error field (what a hostile app could send).
//   node test/support/echo-app.ts --host H --port P --id NAME [--site S] [--planet FILE [--version V]]
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { type Instance, startInstance } from "../../src/sdk/index.ts";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    id: { type: "string", default: "app" },
    site: { type: "string", default: "" },
    planet: { type: "string" },
    version: { type: "string", default: "1" },
  },
});
const id = values.id;
const site = values.site;
let healthy = true;
let reset = false;
let instance: Instance | undefined;
const delayMsMax = 60_000;

function arrival(fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ event: "arrival", id, ...fields })}\n`);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  if (url.pathname === "/healthz") {
    const ok = healthy && !instance?.draining;
    res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" });
    res.end(ok ? "ok\n" : "unhealthy\n");
    return;
  }
  if (url.pathname === "/control/healthy") {
    healthy = url.searchParams.get("v") !== "0";
    res.end("ok\n");
    return;
  }
  if (url.pathname === "/control/reset") {
    reset = url.searchParams.get("v") === "1";
    res.end("ok\n");
    return;
  }
  if (reset) {
    req.socket.destroy();
    return;
  }
  const requestId = req.headers["x-request-id"];
  arrival({ method: req.method, url: req.url, requestId, tag: req.headers["x-test-tag"] });
  let bodyBytes = 0;
  req.on("data", (chunk: Buffer) => {
    bodyBytes += chunk.length;
  });
  req.on("end", () => {
    const delayMs = Math.min(delayMsMax, Number(url.searchParams.get("delayMs") ?? 0) || 0);
    const answer = (): void => {
      const body = JSON.stringify({
        instance: id,
        site,
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyBytes,
      });
      const size = Number(url.searchParams.get("size") ?? 0) || 0;
      if (size > 0) {
        // A large body, chunked: exercises streaming and backpressure through the gateway.
        res.writeHead(200, { "content-type": "application/octet-stream", "x-instance": id });
        const block = Buffer.alloc(64 * 1024, 120);
        let left = size;
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, block.length);
            left -= n;
            if (!res.write(n === block.length ? block : block.subarray(0, n))) {
              res.once("drain", pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      const rsError = url.searchParams.get("rsError");
      res.writeHead(Number(url.searchParams.get("status") ?? 200) || 200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
        "x-instance": id,
        ...(rsError ? { "rs-error": rsError, "rs-internal": "x" } : {}),
      });
      res.end(body);
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  });
});

server.on("upgrade", (req, socket, head) => {
  arrival({ method: req.method, url: req.url, upgrade: req.headers.upgrade });
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\nX-Instance: ${id}\r\n\r\n`,
  );
  if (head.length > 0) socket.write(head);
  socket.pipe(socket);
  socket.on("error", () => {});
});

server.keepAliveTimeout = 5_000;
if (values.planet) {
  // Registered: ready once the lease says so; SIGTERM drains through the SDK.
  instance = await startInstance({
    server,
    planet: values.planet,
    site,
    id,
    host: values.host,
    port: Number(values.port),
    version: values.version,
    exit: (code) => {
      process.stderr.write(`${JSON.stringify({ event: "drained", id })}\n`);
      process.exit(code);
    },
  });
  console.log(JSON.stringify({ event: "ready", id, host: values.host, port: instance.port, lease: true }));
} else {
  server.listen(Number(values.port), values.host, () => {
    const a = server.address();
    const port = typeof a === "object" && a ? a.port : 0;
    console.log(JSON.stringify({ event: "ready", id, host: values.host, port }));
  });
  process.on("SIGTERM", () => {
    server.close();
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 100).unref();
  });
}
