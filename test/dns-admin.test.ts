// The DNS servers' admin API as real processes over real HTTP: it listens on each server's
// management address (.7.k) only, never the public DNS address; a weight change is a PUT
// of JSON with the planet's control token, so a request without the token, an HTML form
// POST, a non-JSON body and a browser's cross-site request are refused and change nothing;
// a change spreads to the other server and survives a restart of every DNS server (the
// weights file in each server's data dir).
// Addresses: 127.215.0.0/16 – 127.216.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { controlBearerToken, type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { loadPlanet, type NodeInfo, type Planet } from "../src/topology/index.ts";
import { dig } from "./support/dig.ts";

const dnsPort = 15353;
const dir = mkdtempSync(join(tmpdir(), "rs-dns-admin-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: dnsadmin
zone: admin.test.
sites:
  - { name: lon, city: London, lat: 51.5, lon: -0.13, subnet: 127.215.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 0 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.8, subnet: 127.216.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 0 } }
clients:
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.1, lon: 8.7 }
store: { rf: 1, dataDir: data }
ports: { dns: ${dnsPort}, gateway: 18080 }
wan: { mode: direct }
`,
);
const planet: Planet = loadPlanet(planetFile);
const dataDir = join(dir, "data");
const secret = loadPlanetSecret(dataDir, { create: true });
const token = controlBearerToken(secret);
const [lonDns, sinDns] = planet.dnsServers;
const [lonAdmin, sinAdmin] = planet.dnsAdmins;
const url = (a: NodeInfo, path = "/_redshirt/dns/weights"): string => `http://${a.host}:${a.port}${path}`;

const procs = new Map<string, Launched>();

async function startDns(d: NodeInfo): Promise<void> {
  procs.set(
    d.id,
    await launch({
      name: d.id,
      command: nodeBin,
      args: ["src/cli/main.ts", "dns", "--planet", planetFile, "--site", d.site, "--index", String(d.index)],
    }),
  );
}

before(async () => {
  procs.set(
    "gateways",
    await launch({
      name: "gateways",
      command: nodeBin,
      args: ["test/support/healthz-server.ts", "--listen", planet.gateways.map((g) => `${g.host}:${g.port}`).join(",")],
    }),
  );
  await Promise.all([startDns(lonDns), startDns(sinDns)]);
});

after(async () => {
  await stopAll(procs.values());
  rmSync(dir, { recursive: true, force: true });
});

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

const weightsOf = async (a: NodeInfo): Promise<Record<string, number>> =>
  ((await (await fetch(url(a))).json()) as { weights: Record<string, number> }).weights;

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The sites a server answers www with for a client in Europe. */
async function sitesFor(d: NodeInfo): Promise<string[]> {
  const r = await dig(d.host, dnsPort, ["www.admin.test", "+subnet=10.3.0.0/16"]);
  return r.answers.map((a) => planet.gateways.find((g) => g.host === a.data)?.site ?? a.data);
}

test("dns admin - the admin API listens on the management address only, not on the public DNS address", async () => {
  assert.equal(lonAdmin.host, "127.215.7.1");
  assert.equal(await accepts(lonAdmin.host, lonAdmin.port), true);
  assert.equal(await accepts(lonDns.host, lonAdmin.port), false, "nothing on the DNS address's admin port");
  assert.equal((await fetch(url(lonAdmin, "/healthz"))).status, 200);
  // The DNS itself is on the public address.
  assert.equal((await dig(lonDns.host, dnsPort, ["www.admin.test"])).status, "NOERROR");
});

test("dns admin - a write without the token, a form POST, a non-JSON PUT and a cross-site browser PUT are refused; nothing changes", async () => {
  const body = JSON.stringify({ weights: { lon: 0 } });
  const json = { "content-type": "application/json" };
  const auth = { authorization: `Bearer ${token}` };
  const noToken = await fetch(url(lonAdmin), { method: "PUT", body, headers: json });
  assert.equal(noToken.status, 401);
  assert.equal(((await noToken.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_UNAUTHORIZED");
  // What a hostile web page can send: a form POST (no custom headers, a form content type).
  const form = await fetch(url(lonAdmin, "/_redshirt/dns/weights/lon"), {
    method: "POST",
    body: "weight=0",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://evil.example" },
  });
  assert.equal(form.status, 405);
  assert.equal(form.headers.get("allow"), "PUT");
  assert.equal(((await form.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_METHOD");
  // Even with the token: a POST is not a write, and a PUT must be JSON.
  assert.equal((await fetch(url(lonAdmin), { method: "POST", body, headers: { ...json, ...auth } })).status, 405);
  const text = await fetch(url(lonAdmin), { method: "PUT", body, headers: { "content-type": "text/plain", ...auth } });
  assert.equal(text.status, 415);
  assert.equal(((await text.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_CONTENT_TYPE");
  // A browser says where a request comes from: another origin is refused.
  for (const headers of [{ origin: "http://evil.example" }, { "sec-fetch-site": "cross-site" }]) {
    const r = await fetch(url(lonAdmin), { method: "PUT", body, headers: { ...json, ...auth, ...headers } });
    assert.equal(r.status, 403, JSON.stringify(headers));
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_CROSS_SITE");
  }
  assert.deepEqual(await weightsOf(lonAdmin), {}, "nothing changed");
  assert.deepEqual(await sitesFor(lonDns), ["lon"]);
  const metrics = await (await fetch(url(lonAdmin, "/metrics"))).text();
  assert.match(metrics, /rs_dns_admin_unauthorized_total 1/);
  assert.match(metrics, /rs_dns_admin_refused_total\{reason="method"\} 2/);
  assert.match(metrics, /rs_dns_admin_refused_total\{reason="content-type"\} 1/);
  assert.match(metrics, /rs_dns_admin_refused_total\{reason="cross-site"\} 2/);
});

test("dns admin - a weight set on one server spreads to the other and survives a restart of every DNS server", async () => {
  const put = await fetch(url(lonAdmin, "/_redshirt/dns/weights/lon"), {
    method: "PUT",
    body: JSON.stringify({ weight: 0 }),
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
  });
  assert.equal(put.status, 200, await put.text());
  await until("sin's server holds lon at 0", 3_000, async () => (await weightsOf(sinAdmin)).lon === 0);
  for (const d of [lonDns, sinDns]) assert.deepEqual(await sitesFor(d), ["sin"], `${d.id} evacuates lon`);
  // Both servers wrote it to their own data dir.
  for (const d of [lonDns, sinDns]) {
    const file = join(dataDir, "dns", d.id, "weights.json");
    assert.ok(existsSync(file), file);
    assert.equal(
      (JSON.parse(readFileSync(file, "utf8")) as { weights: { entries: Record<string, { weight: number }> } }).weights
        .entries.lon.weight,
      0,
    );
    assert.ok(!existsSync(`${file}.tmp`), "no temp file left behind");
  }
  // Every DNS server stops; one comes back while its peer is still down: the weight is from its file.
  await stopAll([procs.get(lonDns.id), procs.get(sinDns.id)]);
  await startDns(sinDns);
  assert.equal((await weightsOf(sinAdmin)).lon, 0);
  assert.deepEqual(await sitesFor(sinDns), ["sin"]);
  await startDns(lonDns);
  assert.equal((await weightsOf(lonAdmin)).lon, 0);
  assert.deepEqual(await sitesFor(lonDns), ["sin"]);
  const metrics = await (await fetch(url(lonAdmin, "/metrics"))).text();
  assert.doesNotMatch(metrics, /rs_dns_weights_file_errors_total\{/, "no weights file errors");
});
