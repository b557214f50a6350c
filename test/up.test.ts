// `redshirt up` end to end: a temporary three-site planet comes up as real processes (one
// supervisor per site, each starting its site's instances); each site's gateway serves
// from that site; the hello app's visit counter converges in every site; the real `dig`
// gets the nearest healthy site's gateway for each region's subnet; a second `up` is refused;
// Ctrl-C leaves no process behind. Addresses: 127.160.0.0/16 – 127.162.0.0/16 (sites) and
// 127.165.0.0/16 – 127.167.0.0/16 (client regions, whose access links the sites' WAN link
// processes listen on) belong to this file.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { planetDataDir, stopPlanet } from "../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet, type Planet, sitesByDistance } from "../src/topology/index.ts";
import { childPids, descendantPids, isAlive } from "./support/processes.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
// This file reads the hello app's JSON answer to `/` (the default app is the shop).
const helloApp = fileURLToPath(new URL("../examples/hello/server.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "redshirt-up-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: uptest
zone: up.test.
services: [www]
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, subnet: 127.160.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, subnet: 127.161.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.82, subnet: 127.162.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
clients:
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0, subnet: 127.165.0.0/16 }
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68, subnet: 127.166.0.0/16 }
  - { name: asia, cidr: 10.5.0.0/16, lat: 35.68, lon: 139.69, subnet: 127.167.0.0/16 }
store: { partitions: 8, rf: 1, dataDir: data }
dns: { ttlS: 5 }
`,
);
const planet: Planet = loadPlanet(planetFile);
let up: Launched | undefined;
let supervisors: number[] = [];
let children: number[] = [];

before(async () => {
  up = await launch({
    name: "redshirt up",
    command: nodeBin,
    args: [cliMain, "up", "--planet", planetFile, "--app", helloApp],
    isReady: (line) => line.includes("is up"),
    readyTimeoutMs: 60_000,
  });
  supervisors = childPids(up.pid);
  children = descendantPids(up.pid);
});

after(async () => {
  await up?.stop();
  // Whatever is left (a failed test) is found by its owner tag, never by a recorded pid: pids are reused.
  await stopPlanet({ planet, secret: loadPlanetSecret(planetDataDir(planet)) }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

test("up - starts every process of the planet, one per role and site", () => {
  // A supervisor per site, each with its site's WAN link process, store, app, gateway and DNS server.
  assert.equal(supervisors.length, 3, up?.tail());
  for (const pid of supervisors) assert.equal(childPids(pid).length, 5, `supervisor ${pid}'s instances`);
  assert.equal(children.length, 3 + 15, up?.tail());
});

test("up - each site's gateway serves the request from that site", async () => {
  for (const g of planet.gateways) {
    const res = await request(`http://${g.host}:${g.port}/`);
    const body = (await res.body.json()) as { site: string; visits: number };
    assert.equal(res.statusCode, 200);
    assert.equal(body.site, g.site);
    assert.ok(body.visits >= 1);
  }
});

test("up - the visit counter seen from every site converges to the number of requests", async () => {
  // Increments of earlier tests may still be crossing the emulated WAN: start from the value
  // every replica agrees on, and has kept for 2 s. Agreement alone is not enough: right
  // after one request per site each replica may hold only its own increment (1, 1, 1).
  let before = -1;
  let agreedSince = 0;
  for (const settleBy = Date.now() + 15_000; ; ) {
    const seen = await Promise.all(planet.storeNodes.map((n) => visitsAt(n.id)));
    const agreed = seen.every((v) => v === seen[0]) ? seen[0] : -1;
    if (agreed !== before) {
      before = agreed;
      agreedSince = Date.now();
    } else if (agreed >= 0 && Date.now() - agreedSince >= 2_000) break;
    assert.ok(Date.now() < settleBy, `counters ${seen.join(", ")} never settled before the test`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const perSite = 4;
  for (const g of planet.gateways) {
    for (let i = 0; i < perSite; i++) {
      const res = await request(`http://${g.host}:${g.port}/`);
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
  }
  const want = before + perSite * planet.gateways.length;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const seen = await Promise.all(planet.storeNodes.map((n) => visitsAt(n.id)));
    if (seen.every((v) => v === want)) break;
    assert.ok(Date.now() < deadline, `counters ${seen.join(", ")} never reached ${want}`);
    await new Promise((r) => setTimeout(r, 200));
  }
});

async function visitsAt(nodeId: string): Promise<number> {
  const n = planet.storeNodes.find((x) => x.id === nodeId)!;
  const res = await request(`http://${n.host}:${n.port}/v1/kv/hello%3Avisits?consistency=local-one`);
  const body = (await res.body.json()) as { value?: number };
  return res.statusCode === 200 ? (body.value ?? 0) : 0;
}

test("up - dig against any site's DNS answers with the nearest site's gateway for each region", () => {
  for (const dns of planet.dnsServers) {
    for (const client of planet.clients) {
      const out = execFileSync(
        "dig",
        [
          `@${dns.host}`,
          "-p",
          String(dns.port),
          `www.${planet.zone}`,
          "A",
          `+subnet=${client.cidr}`,
          "+short",
          "+tries=2",
          "+time=2",
        ],
        { encoding: "utf8" },
      );
      const ips = out.trim().split("\n");
      const nearest = sitesByDistance(planet, client)[0];
      const gateway = planet.gateways.find((g) => g.site === nearest.name)!;
      // The planet sets no fallback sites: the nearest site only (resolvers re-sort RRsets).
      assert.deepEqual(ips, [gateway.host], `${client.name} via ${dns.id}: ${out}`);
    }
  }
});

test("up - a second up while one runs says so and exits non-zero", () => {
  const second = spawnSync(nodeBin, [cliMain, "up", "--planet", planetFile, "--app", helloApp], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.notEqual(second.status, 0);
  assert.match(second.stderr, /RS_ERR_CLI_ALREADY_UP/);
});

test("up - Ctrl-C stops every process it started", async () => {
  assert.ok(up);
  assert.ok(children.length > 0);
  up.kill("SIGINT");
  const { code } = await up.exited;
  assert.equal(code, 0);
  const left = children.filter(isAlive);
  assert.deepEqual(left, [], "processes left behind");
});
