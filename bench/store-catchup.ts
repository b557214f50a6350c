// What a site costs its store nodes to catch up after a WAN cut: London is cut from the other
// sites while nyc writes to a few hot map keys (a shop's carts, several fields each, written
// many times a second in all), then the cut heals and the CPU this process spends until every
// replica's hash trees agree is printed, per relayed entry. Nine store nodes on the seeded
// simulated network (src/store/testkit), so the figure is CPU, not waiting.
//   node bench/store-catchup.ts [cutSeconds] [keys] [writesPerSecond]

import { SimCluster } from "../src/store/testkit/sim-cluster.ts";
import { rootsAgree } from "../src/store/testkit/sim-end.ts";
import { simPlanetYaml } from "../src/store/testkit/sim-workload.ts";
import { parsePlanet } from "../src/topology/index.ts";

const cutS = Number(process.argv[2] ?? 60);
const keys = Number(process.argv[3] ?? 8);
const writesPerS = Number(process.argv[4] ?? 40);
const planet = parsePlanet(simPlanetYaml);
const c = new SimCluster({ planet, seed: 97 });
await c.startAll();
await c.advance(5_000);
const lon = ["lon-store1", "lon-store2", "lon-store3"];
const others = [...c.nodes.keys()].filter((n) => !lon.includes(n));
c.network.partition(lon, others);
console.log(`bench: London cut for ${cutS} s while nyc writes ${writesPerS}/s to ${keys} hot map keys…`);
let n = 0;
const stepMs = 1_000 / writesPerS;
for (let t = 0; t < cutS * 1_000; t += stepMs) {
  const key = `cart:${n % keys}`;
  void c.mutate(others[n % 3], {
    key,
    mutation: { kind: "mincr", fields: { [`item${n % 5}`]: 1 } },
    opId: `w${n}`,
    consistency: "local-one",
  });
  n++;
  await c.advance(stepMs);
  if (n % (writesPerS * 10) === 0) console.log(`bench:   ${Math.round(t / 1000)} s of the cut, ${n} writes`);
}
await c.advance(2_000);
const relayed = () =>
  lon.reduce(
    (s, id) => s + Number(/redshirt_store_replicated_entries_total (\d+)/.exec(c.engine(id)!.metricsText())?.[1] ?? 0),
    0,
  );
const before = relayed();
console.log(`bench: healing; ${n} writes during the cut`);
c.network.heal();
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
let simMs = 0;
while (!rootsAgree(c, planet, [...c.nodes.keys()]) && simMs < 300_000) {
  await c.advance(250);
  simMs += 250;
}
const cpu = process.cpuUsage(cpu0);
const cpuMs = (cpu.user + cpu.system) / 1_000;
const entries = relayed() - before;
console.log(
  `catch-up: trees agree ${simMs} ms (simulated) after the heal; ${cpuMs.toFixed(0)} ms CPU here (${(performance.now() - wall0).toFixed(0)} ms wall), ${entries} entries replicated into London, ${((cpuMs * 1000) / Math.max(1, entries)).toFixed(0)} µs CPU per entry`,
);
await c.stopAll();
