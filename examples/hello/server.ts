// hello: the smallest redshirt app. It is stateless: the visit counter lives in the store
// (a CRDT counter replicated to every site), so any instance in any site can answer, and
// killing an instance loses nothing. The SDK gives it its place on the planet: it registers
// the instance (a lease in its site's registry, which the gateways watch), marks it ready
// once it listens, and on SIGTERM drains it before it exits. Whoever starts it — `redshirt
// up`, a supervisor, systemd, Kubernetes — sets REDSHIRT_PLANET, REDSHIRT_SITE,
// REDSHIRT_INSTANCE_ID (optional), REDSHIRT_VERSION (optional), HOST and PORT.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { appEnvironment, type Instance, startInstance } from "../../src/sdk/index.ts";
import { createStoreClient } from "../../src/store/index.ts";

const { planet, site } = appEnvironment();
const city = planet.sites.find((s) => s.name === site)?.city ?? site;

// The client sends each request straight to a replica of the key in this site.
const store = createStoreClient({ planet, site });
let instance: Instance | undefined;

const server = createServer(async (req, res) => {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(`${JSON.stringify(body)}\n`);
  };
  const id = instance?.id ?? "starting";
  // Draining: fail the gateways' checks too, so they stop sending even if the registry is slow to tell them.
  if (req.url === "/healthz") return send(instance?.draining ? 503 : 200, { ok: !instance?.draining, instance: id });
  if (req.url === "/metrics" && instance) {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    return res.end(instance.metricsText());
  }
  if (req.url !== "/" || (req.method !== "GET" && req.method !== "HEAD")) {
    return send(404, { error: "not found: try GET /" });
  }
  // The gateway gives every request an id and keeps it when it retries the request on
  // another instance; using it as the op id makes the increment count once either way.
  const opId = String(req.headers["x-request-id"] ?? randomUUID());
  try {
    const visits = await store.incr("hello:visits", 1, { opId });
    send(200, { message: `hello from ${id} in ${city}`, site, instance: id, visits });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    send(503, { error: { code: e.code ?? "RS_ERR_HELLO_STORE", message: e.message } });
  }
});
server.keepAliveTimeout = 65_000;

instance = await startInstance({
  server,
  planet,
  site,
  exit: (code) => {
    void store.close().finally(() => process.exit(code));
  },
});
console.log(
  JSON.stringify({
    event: "ready",
    instance: instance.id,
    site,
    version: instance.version,
    url: `http://${instance.host}:${instance.port}/`,
  }),
);
