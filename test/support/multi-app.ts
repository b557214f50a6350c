// Many app instances in one process, for tests that need a site with dozens of them: each
// instance is its own HTTP listener on its own address (127.S.4.k) and holds its own lease
// through the SDK; they share one store client. SIGTERM drains them all, then exits.
//   node test/support/multi-app.ts --planet FILE --site S --subnet 127.S --from K --count N [--port P]
import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { type Instance, startInstance } from "../../src/sdk/index.ts";
import { createStoreClient } from "../../src/store/index.ts";
import { loadPlanet } from "../../src/topology/index.ts";

const { values } = parseArgs({
  options: {
    planet: { type: "string" },
    site: { type: "string" },
    subnet: { type: "string" },
    from: { type: "string", default: "1" },
    count: { type: "string", default: "1" },
    port: { type: "string", default: "9000" },
  },
});
const planet = loadPlanet(values.planet!);
const site = values.site!;
const store = createStoreClient({ planet, site });
const from = Number(values.from);
const count = Number(values.count);

const instances: Instance[] = await Promise.all(
  Array.from({ length: count }, (_, i) => {
    const k = from + i;
    const id = `${site}-app${k}`;
    let self: Instance | undefined;
    const server = createServer((req, res) => {
      if (req.url === "/healthz") {
        res.writeHead(self?.draining ? 503 : 200, { "content-type": "text/plain" });
        res.end("ok\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json", "x-instance": id });
      res.end(`${JSON.stringify({ instance: id, site })}\n`);
    });
    return startInstance({
      server,
      planet,
      site,
      id,
      host: `${values.subnet}.4.${k}`,
      port: Number(values.port),
      version: "1",
      store,
      handleSignals: false,
    }).then((inst) => {
      self = inst;
      return inst;
    });
  }),
);
console.log(JSON.stringify({ event: "ready", site, instances: instances.map((i) => i.id) }));
process.once("SIGTERM", () => {
  void Promise.all(instances.map((i) => i.stop()))
    .then(() => store.close())
    .then(() => process.exit(0));
});
