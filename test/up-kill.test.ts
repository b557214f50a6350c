// `redshirt up` SIGKILLed: the supervisors and instances it started live on and the planet
// still serves; a new `up` adopts the running supervisors (no second supervisor, no second
// instance); after that one is SIGKILLed too, `redshirt down` removes every process.
// Addresses: 127.182.0.0/16 and 127.183.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, test } from "node:test";
import { request } from "undici";
import { ownedProcesses, planetStatus, type SiteStatus } from "../src/cattle/index.ts";
import { type Launched, launch, nodeBin } from "../src/core/index.ts";
import { descendantPids, isAlive } from "./support/processes.ts";
import { cleanup, cliMain, helloApp, type TestPlanet, writePlanet } from "./support/supervised.ts";

const tp: TestPlanet = writePlanet(
  "redshirt-upkill-",
  `name: upkill
zone: upkill.test.
sites:
  - { name: x, city: X, lat: 40, lon: -74, subnet: 127.182.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: y, city: Y, lat: 51, lon: 0, subnet: 127.183.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
`,
);
const sites = tp.planet.sites.map((s) => s.name);
const ups: Launched[] = [];

after(async () => {
  for (const u of ups) u.kill("SIGKILL");
  await cleanup(tp, sites, []);
});

function startUp(): Promise<Launched> {
  return launch({
    name: "redshirt up",
    command: nodeBin,
    args: [cliMain, "up", "--planet", tp.planetFile, "--app", helloApp],
    isReady: (line) => line.includes("is up"),
    readyTimeoutMs: 90_000,
  }).then((u) => {
    ups.push(u);
    return u;
  });
}

async function statuses(): Promise<SiteStatus[]> {
  const answers = await planetStatus(tp.ctl);
  return answers.map((a) => {
    assert.ok(a.reachable, `${a.site} answers`);
    return a.status;
  });
}

async function servedBy(site: string): Promise<string> {
  const g = tp.planet.gateways.find((x) => x.site === site)!;
  const res = await request(`http://${g.host}:${g.port}/`, { headersTimeout: 5_000 });
  const body = (await res.body.json()) as { site: string; instance: string };
  assert.equal(res.statusCode, 200);
  return `${body.site}/${body.instance}`;
}

test("up - SIGKILLed, it leaves a planet that serves; a new up adopts it; down then removes every process", async () => {
  const first = await startUp();
  const planetPids = descendantPids(first.pid);
  // Each site: its WAN link process, a store node, an app, a gateway and a DNS server.
  assert.equal(planetPids.length, 2 + 10, "2 supervisors, 5 instances each");
  const before = await statuses();
  first.kill("SIGKILL");
  await first.exited;
  // Still serving, from the same processes.
  for (const site of sites) assert.match(await servedBy(site), new RegExp(`^${site}/${site}-app-`));
  assert.deepEqual(
    planetPids.filter((p) => !isAlive(p)),
    [],
    "every process outlived up",
  );

  const second = await startUp();
  assert.match(second.tail(), /adopting the running supervisor/);
  const adopted = await statuses();
  for (const [i, s] of adopted.entries()) {
    assert.equal(s.supervisor.pid, before[i].supervisor.pid, `${s.site}: the same supervisor`);
    assert.deepEqual(
      s.instances.map((r) => r.pid),
      before[i].instances.map((r) => r.pid),
      `${s.site}: the same instances`,
    );
    assert.equal(ownedProcesses(tp.planet, s.site).length, 5, `${s.site}: no duplicate`);
  }
  second.kill("SIGKILL");
  await second.exited;

  const down = spawnSync(nodeBin, [cliMain, "down", "--planet", tp.planetFile], { encoding: "utf8", timeout: 60_000 });
  assert.equal(down.status, 0, `${down.stdout}${down.stderr}`);
  assert.match(down.stdout, /x: 6 processes stopped by its supervisor/);
  assert.deepEqual(planetPids.filter(isAlive), [], "processes left behind");
  for (const site of sites) assert.deepEqual(ownedProcesses(tp.planet, site), []);
  const status = spawnSync(nodeBin, [cliMain, "status", "--planet", tp.planetFile], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(status.status, 3, "no site answers");
  assert.match(status.stdout, /x +NOT ANSWERING +RS_ERR_CATTLE_CONTROL_UNREACHABLE/);
});
