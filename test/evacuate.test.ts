// Evacuate and restore a site with real processes: three sites (one store node, two apps, a
// gateway and a DNS server each; the WAN direct, for speed), users resolving the service
// through the GSLB DNS from a region next to site a and GETting through the gateways it
// names. Evacuating a steers them to b (dig no longer lists a), drains a's apps to 0 while
// its store keeps running; a restarted supervisor keeps a evacuated; the last serving site
// cannot be evacuated; restore brings a's apps back and then its users — and no user saw an
// error all along. Addresses: 127.230–232.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import type { SiteStatus } from "../src/cattle/index.ts";
import { controlBearerToken, type Launched, nodeBin } from "../src/core/index.ts";
import { dig } from "./support/dig.ts";
import { startDnsUsers } from "./support/dns-users.ts";
import {
  cleanup,
  cliMain,
  startSupervisor,
  status,
  type TestPlanet,
  waitStatus,
  writePlanet,
} from "./support/supervised.ts";

const sites = ["a", "b", "c"] as const;
const tp: TestPlanet = writePlanet(
  "redshirt-evacuate-",
  `name: evactest
zone: evac.test.
services: [{ name: www, fallbackSites: 2 }]
sites:
  - { name: a, city: A, lat: 50, lon: 0, subnet: 127.230.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 45, lon: 10, subnet: 127.231.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
  - { name: c, city: C, lat: 1, lon: 100, subnet: 127.232.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
clients:
  - { name: near-a, cidr: 10.1.0.0/16, lat: 51, lon: 1 }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
`,
);
const supervisors = new Map<string, Launched>();
const { planet } = tp;
const dnsPort = planet.ports.dns;
const siteOf = (host: string) => planet.gateways.find((g) => g.host === host)?.site ?? `?${host}`;
const allReady = (s: SiteStatus) => s.ready && s.instances.every((r) => r.state === "ready");
const app = (s: SiteStatus) => s.tiers.find((t) => t.tier === "app")!;

/** The sites every DNS server lists for the region next to a, in order (the real `dig`). */
async function digSites(): Promise<string[][]> {
  return await Promise.all(
    planet.dnsServers.map(async (d) => {
      const r = await dig(d.host, dnsPort, ["www.evac.test", "+subnet=10.1.0.0/16"]);
      assert.equal(r.status, "NOERROR", r.text);
      return [...new Set(r.answers.map((x) => siteOf(x.data)))];
    }),
  );
}

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function cli(args: string[]): Promise<{ status: number | null; out: string }> {
  const child = spawn(nodeBin, [cliMain, ...args, "--planet", tp.planetFile], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => {
    out += d;
  });
  child.stderr.on("data", (d) => {
    out += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ status: code, out });
    }),
  );
}

before(async () => {
  for (const s of sites) supervisors.set(s, await startSupervisor(tp, s));
  for (const s of sites) await waitStatus(tp, s, allReady, 90_000, `${s} ready`);
  await until("every DNS server lists every site", 20_000, async () =>
    (await digSites()).every((l) => l.length === 3 && l[0] === "a"),
  );
});

after(async () => {
  await cleanup(tp, sites, [...supervisors.values()]);
});

test("evacuate - a site's users move away and its apps drain with zero user errors; a restart keeps it evacuated; restore brings it back", async () => {
  const users = startDnsUsers({
    dnsServers: planet.dnsServers.map((d) => ({ host: d.host, port: dnsPort })),
    name: "www.evac.test",
    gatewayPort: planet.ports.gateway,
    ecs: { ip: "10.1.0.0", prefix: 16 },
    users: 4,
    thinkMs: 10,
    siteOf,
  });
  try {
    await new Promise((r) => setTimeout(r, 1_000));
    const t0 = performance.now();
    const ev = await cli(["evacuate", "a"]);
    const evacuateMs = performance.now() - t0;
    assert.equal(ev.status, 0, ev.out);
    assert.match(ev.out, /users steered away/);
    assert.match(ev.out, /a: evacuated after/);
    for (const list of await digSites()) assert.ok(!list.includes("a"), `dig still lists a: ${list}`);
    assert.deepEqual((await digSites())[0][0], "b", "the region next to a is answered with b first");
    const sa = await status(tp, "a");
    assert.equal(sa.evacuation.phase, "evacuated");
    assert.equal(app(sa).running, 0);
    assert.equal(sa.appDesired, 2, "what restore returns to");
    assert.equal(sa.tiers.find((t) => t.tier === "store")!.ready, 1, "the store keeps running and replicating");
    // Idempotent: asking again answers at once.
    const again = await cli(["evacuate", "a"]);
    assert.equal(again.status, 0, again.out);

    // The weight write is authenticated: without the token a DNS server refuses it.
    // (Its admin endpoint is on its management address, .7.1, not the DNS address.)
    const d = planet.dnsAdmins[1];
    const anon = await fetch(`http://${d.host}:${d.port}/_redshirt/dns/weights/a`, {
      method: "PUT",
      body: JSON.stringify({ weight: 100 }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(anon.status, 401);
    const withToken = await fetch(`http://${d.host}:${d.port}/_redshirt/dns/weights`, {
      headers: { authorization: `Bearer ${controlBearerToken(tp.ctl.secret)}` },
    });
    assert.equal(((await withToken.json()) as { weights: Record<string, number> }).weights.a, 0);

    // The last serving site cannot be evacuated.
    const evB = await cli(["evacuate", "b", "--no-wait"]);
    assert.equal(evB.status, 0, evB.out);
    const evC = await cli(["evacuate", "c"]);
    assert.notEqual(evC.status, 0, evC.out);
    assert.match(evC.out, /RS_ERR_CATTLE_CONTROL_LAST_SITE: .*c is the last site serving users/);
    assert.equal((await status(tp, "c")).evacuation.phase, "serving");
    const reB = await cli(["restore", "b"]);
    assert.equal(reB.status, 0, reB.out);

    // A supervisor SIGKILLed and started again keeps its site evacuated (the phase is in its state file).
    supervisors.get("a")!.child.kill("SIGKILL");
    await new Promise((r) => setTimeout(r, 300));
    supervisors.set("a", await startSupervisor(tp, "a"));
    const restarted = await status(tp, "a");
    assert.equal(restarted.evacuation.phase, "evacuated");
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(app(await status(tp, "a")).running, 0, "no app started by the restarted supervisor");
    const text = await cli(["status"]);
    assert.match(text.out, /^a +ready EVACUATED/m);
    assert.match(text.out, /EVACUATED since .*app desired 2 on restore/);
    const json = JSON.parse((await cli(["status", "--json"])).out) as { sites: SiteStatus[] };
    assert.equal(json.sites.find((s) => s.site === "a")?.evacuation.phase, "evacuated");

    const t1 = performance.now();
    const re = await cli(["restore", "a"]);
    const restoreMs = performance.now() - t1;
    assert.equal(re.status, 0, re.out);
    assert.match(re.out, /a: serving after/);
    const back = await status(tp, "a");
    assert.equal(app(back).ready, 2);
    for (const list of await digSites()) assert.equal(list[0], "a", `a first again: ${list}`);
    await new Promise((r) => setTimeout(r, 1_000));
    const r = await users.stop();
    assert.deepEqual(r.errors, [], `${r.errors.length} of ${r.sent} requests failed`);
    assert.ok(r.ok > 100, `only ${r.ok} requests`);
    assert.ok((r.bySite.b ?? 0) > 0, "users were served through b while a was evacuated");
    console.log(
      `measured: evacuate ${(evacuateMs / 1000).toFixed(1)} s, restore ${(restoreMs / 1000).toFixed(1)} s; ${r.sent} requests (by site ${JSON.stringify(r.bySite)}, ${r.nextAddress} on a next address), 0 errors`,
    );
    for (const sup of planet.supervisors) {
      const m = await fetch(`http://${sup.host}:${sup.port}/metrics`, {
        headers: { authorization: `Bearer ${controlBearerToken(tp.ctl.secret)}` },
      });
      assert.doesNotMatch(await m.text(), /redshirt_supervisor_steering_failures_total\{[^}]*\} [1-9]/, sup.site);
    }
    console.log(ev.out.trim());
    console.log(re.out.trim());
  } finally {
    await users.stop();
  }
});
