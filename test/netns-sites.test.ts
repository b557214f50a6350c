// Beyond one machine: each site of a three-site planet runs in its own Linux network
// namespace (its own /16, joined to the others only through a router namespace, one veth
// pair each; no bridge), started there by `redshirt up --site NAME` from a planet file with
// `wan: { mode: direct }` — no link proxies, the routed network carries every connection,
// as between real hosts. From a client namespace behind the router: every site's gateway
// serves; a `global` store write in one site is read in another; DNS in each site lists all
// three. Singapore's veth dropped at the router takes it out of the others' DNS answers;
// healed, it is back. Then every process of Singapore's namespace is SIGKILLed: the other
// sites' gateways still answer, a `global` write still succeeds, their DNS servers drop the
// lost site, and with New York's app scaled to 0 its gateway fails over to London across
// the router.
// Skips (saying why) where namespaces cannot be made; here, as root, it runs.
// Namespaces: `rsnt-<pid>-*` (stale ones of dead runs are removed first); addresses inside
// them only: 10.81–10.83.0.0/16 for the sites, 10.77.0.0/16 for the veths.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { planetDataDir } from "../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { dig } from "./support/dig.ts";
import { buildLab, cutSite, execIn, healSite, killNamespace, netnsUnavailable, removeStale } from "./support/netns.ts";
import { cliMain, helloApp } from "./support/supervised.ts";

const prefix = "rsnt";
const subnets = ["10.81.0.0/16", "10.82.0.0/16", "10.83.0.0/16"];
const planetYaml = `name: netns
zone: netns.test.
services: [{ name: www, fallbackSites: 2 }]
sites:
  - { name: nyc, city: New York, lat: 40.7128, lon: -74.0060, subnet: ${subnets[0]}, tiers: { store: 1, gateway: 1, dns: 1, app: 1 } }
  - { name: lon, city: London, lat: 51.5074, lon: -0.1278, subnet: ${subnets[1]}, tiers: { store: 1, gateway: 1, dns: 1, app: 1 } }
  - { name: sin, city: Singapore, lat: 1.3521, lon: 103.8198, subnet: ${subnets[2]}, tiers: { store: 1, gateway: 1, dns: 1, app: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
dns: { ttlS: 1 }
wan: { mode: direct }
`;

const unavailable = netnsUnavailable(prefix);

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (${String(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("up --site in one network namespace per site: each site serves, the store replicates across them, and a lost site is survived", {
  skip: unavailable ? `skipped: ${unavailable}` : false,
  timeout: 300_000,
}, async () => {
  await removeStale(prefix);
  const dir = mkdtempSync(join(tmpdir(), "redshirt-netns-"));
  const ups: Launched[] = [];
  try {
    const lab = buildLab(prefix, subnets);
    const planetFile = join(dir, "planet.yaml");
    writeFileSync(planetFile, planetYaml);
    const planet = loadPlanet(planetFile);
    // Every host of a planet holds the same secret; here they share the directory, so it is made once up front.
    loadPlanetSecret(planetDataDir(planet), { create: true });
    const nsOf = new Map(planet.sites.map((s, i) => [s.name, lab.sites[i].ns]));
    const client = lab.client;

    const started = await Promise.allSettled(
      planet.sites.map((s) =>
        launch({
          name: `up --site ${s.name}`,
          command: "ip",
          args: [
            "netns",
            "exec",
            nsOf.get(s.name)!,
            nodeBin,
            cliMain,
            "up",
            "--planet",
            planetFile,
            "--site",
            s.name,
            "--app",
            helloApp,
          ],
          isReady: (line) => line.includes("is up"),
          readyTimeoutMs: 150_000, // 15–30 s here; a shared machine at load 40 needs far more
        }).then((u) => {
          ups.push(u);
          return u;
        }),
      ),
    );
    for (const r of started) if (r.status === "rejected") throw r.reason;
    for (const u of ups) assert.match(u.tail(), /site (nyc|lon|sin) is up \(of 3 sites\)/);

    const curl = async (host: string, port: number, path = "/") => {
      const r = await execIn(client, "curl", [
        "-s",
        "-m",
        "3",
        "-w",
        "\n%{http_code}",
        `http://${host}:${port}${path}`,
      ]);
      const lines = r.stdout.trimEnd().split("\n");
      return { status: Number(lines.pop()), body: lines.join("\n") };
    };
    // Requests through each site's gateway, from the client namespace, answered by that site's app.
    for (const g of planet.gateways) {
      const r = await curl(g.host, g.port);
      assert.equal(r.status, 200, `${g.id}: ${r.body}`);
      assert.equal((JSON.parse(r.body) as { site: string }).site, g.site, `${g.id} answered by its own site`);
    }

    // A global write in nyc (acknowledged by a majority in another site too), read in lon and sin.
    const store = (site: string) => planet.storeNodes.find((n) => n.site === site)!;
    const put = async (site: string, key: string, value: string) => {
      const n = store(site);
      return await execIn(client, "curl", [
        ...["-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT"],
        ...["-H", "content-type: application/json", "-H", `idempotency-key: netns-${key}`],
        ...["-d", JSON.stringify({ value }), `http://${n.host}:${n.port}/v1/kv/${key}?consistency=global`],
      ]);
    };
    const w = await put("nyc", "from-nyc", "written in New York");
    assert.equal(w.stdout, "200", `global write in nyc: ${w.stdout} ${w.stderr}`);
    for (const site of ["lon", "sin"]) {
      const n = store(site);
      await until(`${site} reads nyc's write`, 10_000, async () => {
        const r = await curl(n.host, n.port, "/v1/kv/from-nyc?consistency=local-one");
        return r.status === 200 && r.body.includes("written in New York") ? true : undefined;
      });
    }

    // DNS in every site lists all three gateways.
    const service = `${planet.services[0]}.${planet.zone}`;
    const answered = async (dnsSite: string) => {
      const d = planet.dnsServers.find((x) => x.site === dnsSite)!;
      const r = await dig(d.host, d.port, [service, "A"], 5_000, client);
      return r.answers.filter((a) => a.type === "A").map((a) => a.data);
    };
    const gatewayOf = (site: string) => planet.gateways.find((g) => g.site === site)!.host;
    for (const site of ["nyc", "lon", "sin"]) {
      await until(`${site}'s DNS lists every site`, 15_000, async () => {
        const a = await answered(site);
        return ["nyc", "lon", "sin"].every((s) => a.includes(gatewayOf(s))) ? a : undefined;
      });
    }

    // Singapore's veth dropped at the router: both other sites' DNS servers drop it; healed, it is back.
    cutSite(lab, 2);
    const cutAt = Date.now();
    const dropsSin = async () => {
      for (const site of ["nyc", "lon"]) {
        await until(`${site}'s DNS drops sin`, 15_000, async () => {
          const a = await answered(site);
          return !a.includes(gatewayOf("sin")) && a.includes(gatewayOf("nyc")) && a.includes(gatewayOf("lon"))
            ? a
            : undefined;
        });
      }
    };
    await dropsSin();
    console.log(`netns: sin cut off, out of both other DNS servers' answers ${Date.now() - cutAt} ms later`);
    healSite(lab, 2);
    const healedAt = Date.now();
    for (const site of ["nyc", "lon"]) {
      await until(`${site}'s DNS lists sin again`, 15_000, async () => {
        const a = await answered(site);
        return a.includes(gatewayOf("sin")) ? a : undefined;
      });
    }
    console.log(`netns: sin healed, back in both other DNS servers' answers ${Date.now() - healedAt} ms later`);

    // Singapore is lost: every process in its namespace SIGKILLed (its up, supervisor and instances).
    const killed = await killNamespace(nsOf.get("sin")!);
    assert.ok(killed >= 6, `sin had its up, supervisor and 4 instances (killed ${killed})`);
    const lostAt = Date.now();
    for (const site of ["nyc", "lon"]) {
      const g = planet.gateways.find((x) => x.site === site)!;
      const r = await curl(g.host, g.port);
      assert.equal(r.status, 200, `${g.id} still serves: ${r.body}`);
    }
    const w2 = await put("lon", "after-loss", "written in London after Singapore was lost");
    assert.equal(w2.stdout, "200", `global write in lon with sin lost: ${w2.stdout} ${w2.stderr}`);
    await dropsSin();
    console.log(`netns: sin left both surviving DNS servers' answers ${Date.now() - lostAt} ms after it was killed`);
    // New York's app scaled to 0 (the CLI, from the client namespace, to nyc's control API):
    // its gateway forwards to the nearest surviving site, London, across the router.
    const scale = await execIn(client, nodeBin, [cliMain, "scale", "nyc", "app", "0", "--planet", planetFile], 30_000);
    assert.equal(scale.code, 0, `scale nyc app 0: ${scale.stdout}${scale.stderr}`);
    const nycGateway = planet.gateways.find((x) => x.site === "nyc")!;
    await until("nyc's gateway fails over to lon", 15_000, async () => {
      const r = await curl(nycGateway.host, nycGateway.port);
      return r.status === 200 && (JSON.parse(r.body) as { site: string }).site === "lon" ? true : undefined;
    });
    // No store node of the survivors counted an internal error through all of it.
    for (const site of ["nyc", "lon"]) {
      const m = await curl(store(site).host, store(site).port, "/metrics");
      assert.equal(m.status, 200);
      const counted = [...m.body.matchAll(/^redshirt_store_internal_errors_total(\{[^}]*\})? (\d+)$/gm)];
      assert.deepEqual(
        counted.filter((x) => x[2] !== "0").map((x) => x[0]),
        [],
        `${site}'s store node counted internal errors`,
      );
    }
    // The survivors' up processes are still in the foreground, unaffected.
    for (const u of ups.filter((x) => !x.name.endsWith("sin"))) {
      assert.equal(u.child.exitCode, null, `${u.name} still runs`);
    }
  } finally {
    for (const u of ups) u.kill("SIGKILL");
    // Every namespace of this run (also a half-built lab), with every process in it.
    await removeStale(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("up --site with a name the planet does not have fails naming --site and the planet's sites", () => {
  const dir = mkdtempSync(join(tmpdir(), "redshirt-netns-bad-"));
  try {
    const planetFile = join(dir, "planet.yaml");
    writeFileSync(planetFile, planetYaml);
    const r = spawnSync(nodeBin, [cliMain, "up", "--planet", planetFile, "--site", "par"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(r.error, undefined, "up ran to its end");
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--site "par" is not a site of planet netns \(sites: nyc, lon, sin\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
