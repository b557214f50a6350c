// A lean HTTP/1.1 backend for the gateway benchmark: on node:net, it answers every
// request head (no bodies expected) with a fixed small response, so the proxies in front
// of it, not the backend, are what the benchmark measures.
//   node bench/support/http-backend.ts --host H --port P [--node-head]
// --node-head answers with the fields node:http adds (Date, Connection: keep-alive,
// Keep-Alive), which a proxy must rewrite: the head of a typical Node app.
import { createServer } from "node:net";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    "node-head": { type: "boolean", default: false },
  },
});
const body = "hello, world\n";
const nodeFields = values["node-head"]
  ? "Date: Thu, 04 Dec 2026 21:00:00 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
  : "";
const response = Buffer.from(
  `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${nodeFields}Content-Length: ${body.length}\r\n\r\n${body}`,
  "latin1",
);
const headEndMax = 64 * 1024;

const server = createServer({ noDelay: true }, (socket) => {
  let carry: Buffer | null = null;
  socket.on("data", (chunk: Buffer) => {
    const buf = carry === null ? chunk : Buffer.concat([carry, chunk]);
    let from = 0;
    let n = 0;
    for (;;) {
      const i = buf.indexOf("\r\n\r\n", from, "latin1");
      if (i < 0) break;
      n++;
      from = i + 4;
    }
    carry = from < buf.length ? buf.subarray(from) : null;
    if (carry !== null && carry.length > headEndMax) socket.destroy();
    if (n === 1) socket.write(response);
    else if (n > 1) socket.write(Buffer.concat(Array.from({ length: n }, () => response)));
  });
  socket.on("error", () => {});
});
server.listen(Number(values.port), values.host, () => {
  const a = server.address();
  console.log(JSON.stringify({ event: "ready", port: typeof a === "object" && a ? a.port : 0 }));
});
process.on("SIGTERM", () => process.exit(0));
