// The site health DNS sees, with real processes end to end: a store node, 64 app instances
// (the most a site may have) that register through the SDK (one process, one listener and
// lease each), two gateways that discover them, and two GSLB DNS servers that probe the
// gateways. A site with that
// many instances stays in DNS (the probe judges the status code; healthz stays small — a
// per-instance list there once made the probe fail past ~32 instances), and a SIGTERMed
// gateway leaves every DNS server's answers before it stops accepting connections.
// Subnet 127.194.0.0/16.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import dnsPacket from "dns-packet";
import { type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { buildQuery } from "../src/traffic/dns/testing.ts";
import { leaveDnsMsDefault } from "../src/traffic/index.ts";
import { get, sleep, waitFor } from "./support/gateway-cluster.ts";

const instances = 64;
const dir = mkdtempSync(join(tmpdir(), "rs-dns-discovery-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: dd
zone: dd.test.
services: [www]
sites:
  - { name: x, city: X, lat: 10, lon: 10, subnet: 127.194.0.0/16, tiers: { store: 1, gateway: 2, dns: 2, app: 0 } }
store: { partitions: 8, rf: 1, dataDir: data }
dns: { ttlS: 5 }
`,
);
const planet = loadPlanet(planetFile);
// What `redshirt up` does first: the store node reads the planet secret.
loadPlanetSecret(join(dir, "data"), { create: true });
const env = { ...process.env, REDSHIRT_LOG_LEVEL: "warn" };
const procs = new Map<string, Launched>();

async function start(name: string, args: string[]): Promise<Launched> {
  const p = await launch({ name, command: nodeBin, args, env, readyTimeoutMs: 30_000 });
  procs.set(name, p);
  return p;
}

before(async () => {
  await start("store", ["src/cli/main.ts", "store", "--planet", planetFile, "--node", "x-store1"]);
  await start("apps", [
    "test/support/multi-app.ts",
    ...["--planet", planetFile, "--site", "x", "--subnet", "127.194", "--count", String(instances)],
  ]);
  await Promise.all(
    [1, 2].map((k) =>
      start(`gateway${k}`, ["src/cli/main.ts", "gateway", "--planet", planetFile, "--site", "x", "--index", String(k)]),
    ),
  );
  await Promise.all(
    [1, 2].map((k) =>
      start(`dns${k}`, ["src/cli/main.ts", "dns", "--planet", planetFile, "--site", "x", "--index", String(k)]),
    ),
  );
});

after(async () => {
  await stopAll(
    [...procs.values()].filter((p) => !p.name.startsWith("store")),
    0,
  );
  await stopAll([procs.get("store")]);
  rmSync(dir, { recursive: true, force: true });
});

/** The A records one DNS server answers for www (UDP, on the wire). */
function answer(dnsHost: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      reject(new Error(`no DNS answer from ${dnsHost}`));
    }, 1_000);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      const p = dnsPacket.decode(m);
      resolve((p.answers ?? []).flatMap((a) => (a.type === "A" ? [String(a.data)] : [])));
    });
    s.bind(0, "127.0.0.1", () => s.send(buildQuery({ name: `www.${planet.zone}`, id: 7 }), planet.ports.dns, dnsHost));
  });
}

const dnsHosts = planet.dnsServers.map((d) => d.host);
const [gw1, gw2] = planet.gateways;

async function inRotation(g: { host: string; port: number }): Promise<number> {
  const r = await get(`http://${g.host}:${g.port}/_redshirt/backends`);
  return (JSON.parse(r.text) as { backends: Array<{ inRotation: boolean }> }).backends.filter((b) => b.inRotation)
    .length;
}

test(`dns discovery - a site with ${instances} instances stays in every DNS server's answers`, async (t) => {
  for (const g of [gw1, gw2]) {
    // Discovering 64 leases is the registry's job, not what this test proves: a wide margin.
    assert.ok(
      (await waitFor(async () => (await inRotation(g)) === instances, 30_000, 100)) >= 0,
      `${g.id} sees all: ${await inRotation(g)}`,
    );
  }
  const h = await get(`http://${gw1.host}:${gw1.port}/_redshirt/healthz`);
  assert.equal(h.status, 200);
  assert.ok(h.text.length < 256, `healthz stays small with ${instances} instances: ${h.text.length} bytes`);
  // Several probe falls' worth of time: every answer of every server lists both gateways.
  const endAt = performance.now() + 3_000;
  let queries = 0;
  while (performance.now() < endAt) {
    for (const host of dnsHosts) {
      assert.deepEqual((await answer(host)).sort(), [gw1.host, gw2.host].sort(), `answer of ${host}`);
      queries++;
    }
    await sleep(100);
  }
  // Every DNS server's own probes (its view, on its management address) see both gateways up.
  for (const admin of planet.dnsAdmins) {
    const view = JSON.parse((await get(`http://${admin.host}:${admin.port}/_redshirt/dns/view`)).text) as {
      gateways: Record<string, string>;
    };
    assert.deepEqual(view.gateways, { [gw1.id]: "up", [gw2.id]: "up" }, admin.id);
  }
  t.diagnostic(`${queries} answers over 3 s, all with both gateways; healthz ${h.text.length} bytes`);
});

/** Whether a TCP connect to the address is accepted. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

test("dns discovery - a SIGTERMed gateway leaves every DNS server's answers before it stops accepting", async (t) => {
  const g2 = procs.get("gateway2")!;
  const termAt = performance.now();
  g2.kill("SIGTERM");
  let leftDnsMs = -1;
  let refusedMs = -1;
  let servedDuringLeave = 0;
  let failedDuringLeave = 0;
  while (performance.now() - termAt < 8_000 && refusedMs < 0) {
    const nowMs = performance.now() - termAt;
    if (leftDnsMs < 0) {
      const answers = await Promise.all(dnsHosts.map((h) => answer(h)));
      if (answers.every((a) => !a.includes(gw2.host))) leftDnsMs = nowMs;
      else {
        // Still in some answer: clients sent there must be served.
        const r = await get(`http://${gw2.host}:${gw2.port}/`).catch(() => undefined);
        if (r?.status === 200) servedDuringLeave++;
        else failedDuringLeave++;
      }
    }
    if (!(await accepts(gw2.host, gw2.port))) refusedMs = performance.now() - termAt;
    await sleep(25);
  }
  const { code } = await g2.exited;
  assert.equal(code, 0);
  assert.ok(leftDnsMs >= 0, "gateway 2 left the DNS answers");
  assert.ok(refusedMs >= 0, "gateway 2 stopped accepting");
  assert.ok(leftDnsMs < refusedMs, `left DNS at ${leftDnsMs.toFixed(0)} ms, refused at ${refusedMs.toFixed(0)} ms`);
  assert.ok(refusedMs >= leaveDnsMsDefault, `accepted connections for ${refusedMs.toFixed(0)} ms`);
  assert.equal(failedDuringLeave, 0, "while still in DNS, every request sent to it was served");
  assert.ok(servedDuringLeave > 0);
  for (const host of dnsHosts) assert.deepEqual(await answer(host), [gw1.host], "gateway 1 stays");
  t.diagnostic(
    `left every DNS server's answers ${leftDnsMs.toFixed(0)} ms after SIGTERM, stopped accepting at ${refusedMs.toFixed(0)} ms (leave ${leaveDnsMsDefault} ms); ${servedDuringLeave} requests served meanwhile`,
  );
});
