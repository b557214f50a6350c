// A process that holds one lease and nothing else, for registry tests: it writes the lease
// (state ready) and beats until SIGTERM, which stops it the graceful way (draining, then
// removed); SIGKILL is a holder that dies without a word. `--skew-ms` runs it on a wall
// clock that far off, as on a host whose clock is wrong.
//   node test/support/lease-holder.ts --planet FILE --site S --id ID [--port P] [--skew-ms N]
import { parseArgs } from "node:util";
import { LeaseHolder } from "../../src/cattle/index.ts";
import { type Clock, createLogger, systemClock } from "../../src/core/index.ts";
import { createStoreClient } from "../../src/store/index.ts";
import { loadPlanet } from "../../src/topology/index.ts";

const { values } = parseArgs({
  options: {
    planet: { type: "string" },
    site: { type: "string" },
    id: { type: "string" },
    port: { type: "string", default: "9000" },
    "skew-ms": { type: "string", default: "0" },
  },
});
const planet = loadPlanet(values.planet!);
const site = values.site!;
const skewMs = Number(values["skew-ms"]);
const clock: Clock = { ...systemClock, nowMs: () => Date.now() + skewMs };
const log = createLogger({ role: "lease-holder", instance: values.id });
const store = createStoreClient({ planet, site });
const holder = new LeaseHolder(
  {
    id: values.id!,
    site,
    tier: "app",
    host: "127.0.0.1",
    port: Number(values.port),
    version: "1",
    pid: process.pid,
    initialState: "ready",
  },
  { store, clock, log },
);
await holder.start();
console.log(JSON.stringify({ event: "ready", id: values.id, written: holder.lastWriteOk }));
// The holder's timers do not keep a process alive (they are unref'd, as every clock timer): this does.
const keepAlive = setInterval(() => {}, 1 << 30);
process.once("SIGTERM", () => {
  clearInterval(keepAlive);
  void holder
    .stop()
    .then(() => store.close())
    .then(() => process.exit(0));
});
