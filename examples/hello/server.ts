// hello: the smallest redshirt app. It is stateless: the visit counter lives in the store
// (a CRDT counter replicated to every site), so any instance in any site can answer, and
// killing an instance loses nothing. Run by `redshirt up`, which sets the variables below.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { createStoreClient } from "../../src/store/index.ts";
import { loadPlanet } from "../../src/topology/index.ts";

const planet = loadPlanet(process.env.REDSHIRT_PLANET ?? "examples/planet.yaml");
const site = process.env.REDSHIRT_SITE ?? planet.sites[0].name;
const instance = process.env.REDSHIRT_INSTANCE ?? `${site}-hello`;
const host = process.env.HOST ?? "127.0.0.1";
const port = Number(process.env.PORT ?? 9000);
const city = planet.sites.find((s) => s.name === site)?.city ?? site;

// The client sends each request straight to a replica of the key in this site.
const store = createStoreClient({ planet, site });

const server = createServer(async (req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(`${JSON.stringify(body)}\n`);
  };
  if (req.url === "/healthz") return send(200, { ok: true, instance });
  if (req.url !== "/" || (req.method !== "GET" && req.method !== "HEAD")) {
    return send(404, { error: "not found: try GET /" });
  }
  // The gateway gives every request an id and keeps it when it retries the request on
  // another instance; using it as the op id makes the increment count once either way.
  const opId = String(req.headers["x-request-id"] ?? randomUUID());
  try {
    const visits = await store.incr("hello:visits", 1, { opId });
    send(200, { message: `hello from ${instance} in ${city}`, site, instance, visits });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    send(503, { error: { code: e.code ?? "RS_ERR_HELLO_STORE", message: e.message } });
  }
});

server.keepAliveTimeout = 65_000;
server.listen(port, host, () => {
  console.log(JSON.stringify({ event: "ready", instance, site, url: `http://${host}:${port}/` }));
});

const stop = () => {
  // Stop taking connections, let requests in flight finish, then go.
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
