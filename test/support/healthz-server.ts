// A stand-in for a site's gateways in DNS tests and the DNS bench: one process listening on
// every address given, answering GET /_redshirt/healthz with 200. Killing it is a site
// losing all its gateways. `--deny-from A,B` emulates a cut link: requests from those
// source addresses get their connection dropped without an answer.
//   node test/support/healthz-server.ts --listen 127.120.2.1:18080,127.120.2.2:18080 [--deny-from 127.121.3.1]
import http from "node:http";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { listen: { type: "string" }, "deny-from": { type: "string", default: "" } },
});
const addresses = (values.listen ?? "").split(",").filter(Boolean);
const denied = new Set(values["deny-from"].split(",").filter(Boolean));
if (addresses.length === 0) {
  console.error("usage: healthz-server --listen HOST:PORT[,HOST:PORT…] [--deny-from ADDR,…]");
  process.exit(2);
}

const servers = addresses.map((a) => {
  const [host, port] = a.split(":");
  const server = http.createServer((req, res) => {
    if (denied.has(req.socket.remoteAddress ?? "")) {
      req.socket.destroy();
      return;
    }
    if (req.url === "/_redshirt/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok\n");
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  return { server, host, port: Number(port) };
});

await Promise.all(
  servers.map(
    (s) =>
      new Promise<void>((resolve, reject) => {
        s.server.once("error", reject);
        s.server.listen(s.port, s.host, () => resolve());
      }),
  ),
);
console.log(JSON.stringify({ event: "ready", listening: addresses }));
process.on("SIGTERM", () => process.exit(0));
