// The GSLB DNS server as real processes, asked by the real `dig`: three sites (127.120–122),
// one DNS server each, and a stand-in process per site for its gateways' health endpoints.
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import dnsPacket from "dns-packet";
import { controlBearerToken, type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { loadPlanet, type Planet } from "../src/topology/index.ts";
import { buildQuery, testPlanetYaml } from "../src/traffic/dns/testing.ts";
import { dig } from "./support/dig.ts";

const dnsPort = 15353;
const adminPort = dnsPort + 1;
const dir = mkdtempSync(join(tmpdir(), "rs-dns-test-"));
const planetFile = join(dir, "planet.yaml");
// Six gateways per site: 18 A records do not fit 512 bytes, so plain UDP must truncate.
writeFileSync(planetFile, testPlanetYaml({ subnetBase: 120, dnsPort, gatewayPort: 18080, gateways: 6 }));
const planet: Planet = loadPlanet(planetFile);
// What `redshirt up` does first: the DNS servers read the planet secret (weight writes need its token).
const secret = loadPlanetSecret(join(dir, planet.store.dataDir), { create: true });
const servers = planet.dnsServers;
// Each server's admin endpoint is on its management address (.7.k), not its DNS address.
const adminOf = (i: number): string => `http://${planet.dnsAdmins[i].host}:${adminPort}`;
const siteOf = (host: string): string => planet.gateways.find((g) => g.host === host)?.site ?? `?${host}`;

const gateways = new Map<string, Launched>();
const dnsProcesses: Launched[] = [];

function startGateways(site: string, denyFrom: string[] = []): Promise<Launched> {
  const listen = planet.gateways.filter((g) => g.site === site).map((g) => `${g.host}:${g.port}`);
  return launch({
    name: `gateways-${site}`,
    command: nodeBin,
    args: ["test/support/healthz-server.ts", "--listen", listen.join(","), "--deny-from", denyFrom.join(",")],
  }).then((p) => {
    gateways.set(site, p);
    return p;
  });
}

before(async () => {
  await Promise.all(planet.sites.map((s) => startGateways(s.name)));
  const started = await Promise.all(
    servers.map((d) =>
      launch({
        name: d.id,
        command: nodeBin,
        args: ["src/cli/main.ts", "dns", "--planet", planetFile, "--site", d.site, "--index", String(d.index)],
      }),
    ),
  );
  dnsProcesses.push(...started);
});

after(async () => {
  await stopAll([...dnsProcesses, ...gateways.values()]);
  rmSync(dir, { recursive: true, force: true });
});

/** The sites in the order a server answers for a client subnet (dig +subnet), for shop (every site listed). */
async function sitesFor(server: string, subnet: string): Promise<string[]> {
  const r = await dig(server, dnsPort, ["shop.gslb.test", `+subnet=${subnet}`]);
  assert.equal(r.status, "NOERROR", r.text);
  return [...new Set(r.answers.map((a) => siteOf(a.data)))];
}

async function waitFor(what: string, deadlineMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > deadlineMs) assert.fail(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("dns - answers by client subnet from each region differ as they should, and every server agrees", async () => {
  const expected: Record<string, string[]> = {
    "10.1.0.0/16": ["nyc", "lon", "sin"],
    "10.2.0.0/16": ["nyc", "lon", "sin"],
    "10.3.0.0/24": ["lon", "nyc", "sin"],
    "10.4.0.0/16": ["sin", "lon", "nyc"],
    "10.5.0.0/16": ["sin", "lon", "nyc"],
  };
  for (const [subnet, order] of Object.entries(expected)) {
    const answers = await Promise.all(
      servers.map((d) => dig(d.host, dnsPort, ["shop.gslb.test", `+subnet=${subnet}`])),
    );
    // www keeps the default (no fallback sites): the nearest site's six gateways, nothing else.
    const nearest = await Promise.all(servers.map((d) => dig(d.host, dnsPort, ["www.gslb.test", `+subnet=${subnet}`])));
    for (const r of nearest) {
      assert.equal(r.answers.length, 6, r.text);
      assert.deepEqual([...new Set(r.answers.map((a) => siteOf(a.data)))], [order[0]], `${subnet}: www`);
    }
    for (const r of answers) {
      assert.ok(r.flags.includes("aa"), r.text);
      assert.equal(r.answers.length, 18);
      assert.ok(r.answers.every((a) => a.ttl === 5 && a.type === "A"));
      const sites = [...new Set(r.answers.map((a) => siteOf(a.data)))];
      assert.deepEqual(sites.slice(0, order.length), order, `${subnet}: ${sites}`);
      assert.deepEqual(r.answers, answers[0].answers, "every server answers the same");
    }
  }
  // The scope is the prefix the decision used (10.3.0.0/22 keeps out the /24 office).
  assert.equal(
    (await dig(servers[1].host, dnsPort, ["www.gslb.test", "+subnet=10.1.0.0/24"])).clientSubnet,
    "10.1.0.0/24/16",
  );
  assert.equal(
    (await dig(servers[1].host, dnsPort, ["www.gslb.test", "+subnet=10.3.0.0/24"])).clientSubnet,
    "10.3.0.0/24/22",
  );
  assert.equal(
    (await dig(servers[1].host, dnsPort, ["nope.gslb.test", "+subnet=10.3.0.0/24"])).clientSubnet,
    "10.3.0.0/24/0",
  );
  // Without ECS the source address locates the client: dig from inside Singapore's subnet.
  const fromSin = await dig(servers[0].host, dnsPort, ["-b", "127.122.0.9", "www.gslb.test"]);
  assert.equal(siteOf(fromSin.answers[0].data), "sin");
});

test("dns - NXDOMAIN, NODATA and REFUSED, SOA and NS with glue at the apex", async () => {
  const host = servers[2].host;
  const nx = await dig(host, dnsPort, ["nope.gslb.test"]);
  assert.equal(nx.status, "NXDOMAIN");
  assert.ok(nx.flags.includes("aa"));
  assert.equal(nx.authority[0].type, "SOA");
  const nodata = await dig(host, dnsPort, ["www.gslb.test", "AAAA"]);
  assert.equal(nodata.status, "NOERROR");
  assert.equal(nodata.answers.length, 0);
  assert.equal(nodata.authority[0].type, "SOA");
  const refused = await dig(host, dnsPort, ["www.example.com"]);
  assert.equal(refused.status, "REFUSED");
  assert.ok(!refused.flags.includes("aa"));
  const ns = await dig(host, dnsPort, ["gslb.test", "NS"]);
  assert.deepEqual(
    ns.answers.map((a) => a.data),
    ["ns1.gslb.test.", "ns2.gslb.test.", "ns3.gslb.test."],
  );
  assert.deepEqual(
    ns.additional.map((a) => a.data),
    servers.map((d) => d.host),
  );
  const soa = await dig(host, dnsPort, ["gslb.test", "SOA"]);
  assert.match(soa.answers[0].data, /^ns1\.gslb\.test\. hostmaster\.gslb\.test\. \d+ 3600 600 86400 5$/);
  assert.equal(soa.udpPayloadSize, 1232);
});

test("dns - an answer too big for UDP comes with TC=1, and in full over TCP", async () => {
  const host = servers[0].host;
  const udp = await dig(host, dnsPort, ["shop.gslb.test", "+noedns", "+ignore"]);
  assert.ok(udp.flags.includes("tc"), udp.text);
  assert.equal(udp.answers.length, 0);
  const small = await dig(host, dnsPort, ["shop.gslb.test", "+bufsize=512", "+ignore"]);
  assert.ok(small.flags.includes("tc"));
  // dig retries over TCP by itself when it sees TC; +tcp asks over TCP from the start.
  const retried = await dig(host, dnsPort, ["shop.gslb.test", "+noedns"]);
  assert.equal(retried.transport, "TCP");
  assert.equal(retried.answers.length, 18);
  const tcp = await dig(host, dnsPort, ["shop.gslb.test", "+noedns", "+tcp"]);
  assert.ok(!tcp.flags.includes("tc"));
  assert.equal(tcp.answers.length, 18);
  // EDNS0's 1232 bytes hold the whole answer over UDP.
  const edns = await dig(host, dnsPort, ["shop.gslb.test"]);
  assert.equal(edns.transport, "UDP");
  assert.equal(edns.answers.length, 18);
});

function udpExchange(host: string, payloads: Buffer[], waitMs: number): Promise<Buffer[]> {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    const got: Buffer[] = [];
    s.on("message", (m) => got.push(m));
    s.bind(0, "127.0.0.1", () => {
      for (const p of payloads) s.send(p, dnsPort, host);
      setTimeout(() => {
        s.close();
        resolve(got);
      }, waitMs);
    });
  });
}

function tcpExchange(host: string, bytes: Buffer, waitMs: number): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let closed = false;
    const s = net.connect(dnsPort, host, () => s.write(bytes));
    s.on("data", (c) => chunks.push(c));
    s.on("error", () => {});
    s.on("close", () => (closed = true));
    setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    }, waitMs);
  });
}

const frame = (b: Buffer): Buffer => Buffer.concat([Buffer.from([b.length >> 8, b.length & 255]), b]);

test("dns - garbage over UDP and TCP gets DNS errors or silence; pipelined TCP queries are answered in order", async () => {
  const host = servers[1].host;
  const garbage = [
    Buffer.alloc(3),
    Buffer.from("this is not dns at all, not even close"),
    Buffer.concat([buildQuery({ name: "www.gslb.test", id: 7 }).subarray(0, 20)]),
    Buffer.alloc(5000, 0xff),
  ];
  const replies = await udpExchange(host, garbage, 300);
  for (const r of replies) assert.ok((r[3] & 0xf) === 1 || (r[3] & 0xf) === 4, `FORMERR or NOTIMP, got ${r[3] & 0xf}`);
  // Three queries in one write, answered in order on one connection.
  const ids = [11, 12, 13];
  const names = ["www.gslb.test", "nope.gslb.test", "shop.gslb.test"];
  const pipelined = Buffer.concat(ids.map((id, i) => frame(buildQuery({ name: names[i], id }))));
  const { data } = await tcpExchange(host, pipelined, 300);
  const answers: dnsPacket.DecodedPacket[] = [];
  for (let at = 0; at + 2 <= data.length; ) {
    const len = data.readUInt16BE(at);
    answers.push(dnsPacket.decode(data.subarray(at + 2, at + 2 + len)));
    at += 2 + len;
  }
  assert.deepEqual(
    answers.map((a) => a.id),
    ids,
  );
  // A frame that cannot hold a DNS message ends the connection.
  const bad = await tcpExchange(host, Buffer.from([0, 3, 1, 2, 3]), 300);
  assert.equal(bad.closed, true);
  // And the server is still there for everyone.
  assert.equal((await dig(host, dnsPort, ["www.gslb.test"])).status, "NOERROR");
});

test("dns - a killed site disappears from every server's answers within 3 s, and comes back", async (t) => {
  // London first for Europe: kill London's gateways.
  assert.equal((await sitesFor(servers[0].host, "10.3.0.0/24"))[0], "lon");
  gateways.get("lon")!.kill("SIGKILL");
  const goneMs = await waitFor("lon out of every answer", 6000, async () => {
    const all = await Promise.all(servers.map((d) => sitesFor(d.host, "10.3.0.0/24")));
    return all.every((sites) => !sites.includes("lon"));
  });
  t.diagnostic(`lon left every server's answers ${Math.round(goneMs)} ms after its gateways were killed`);
  assert.ok(goneMs <= 3000, `lon left the answers after ${Math.round(goneMs)} ms (bar: 3000)`);
  for (const d of servers) assert.deepEqual(await sitesFor(d.host, "10.3.0.0/24"), ["nyc", "sin"]);
  await startGateways("lon");
  await waitFor("lon back in every answer", 6000, async () => {
    const all = await Promise.all(servers.map((d) => sitesFor(d.host, "10.3.0.0/24")));
    return all.every((sites) => sites[0] === "lon");
  });
});

test("dns - a site cut off from one DNS server only stays in every answer", async () => {
  // Singapore's gateways stop answering New York's DNS server (only).
  await gateways.get("sin")!.stop();
  await startGateways("sin", [servers[0].host]);
  await waitFor("nyc-dns1 sees sin down", 4000, async () => {
    const r = await fetch(`${adminOf(0)}/_redshirt/dns/status`);
    const status = (await r.json()) as { sites: { name: string; probeUp: boolean }[] };
    return status.sites.find((s) => s.name === "sin")?.probeUp === false;
  });
  await new Promise((r) => setTimeout(r, 1000));
  for (const d of servers) assert.deepEqual(await sitesFor(d.host, "10.4.0.0/16"), ["sin", "lon", "nyc"], d.id);
  await gateways.get("sin")!.stop();
  await startGateways("sin");
});

test("dns - weights set on one server evacuate a site on every server", async () => {
  const put = (weights: Record<string, number>, token = controlBearerToken(secret)) =>
    fetch(`${adminOf(2)}/_redshirt/dns/weights`, {
      method: "PUT",
      body: JSON.stringify({ weights }),
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    });
  const refused = await put({ lon: 0 }, "0".repeat(64));
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_UNAUTHORIZED");
  const bad = await put({ atlantis: 3 });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as { error: { code: string } }).error.code, "RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS");
  assert.equal((await put({ lon: 0 })).status, 200);
  await waitFor("lon evacuated everywhere", 3000, async () => {
    const all = await Promise.all(servers.map((d) => sitesFor(d.host, "10.3.0.0/24")));
    return all.every((sites) => !sites.includes("lon"));
  });
  assert.equal((await put({})).status, 200);
  await waitFor("lon back everywhere", 3000, async () => {
    const all = await Promise.all(servers.map((d) => sitesFor(d.host, "10.3.0.0/24")));
    return all.every((sites) => sites[0] === "lon");
  });
});

test("dns - metrics count queries by type and rcode, answers by first site, and site health", async () => {
  const text = await (await fetch(`${adminOf(1)}/metrics`)).text();
  assert.match(text, /rs_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} \d+/);
  assert.match(text, /rs_dns_queries_total\{qtype="A",rcode="NOERROR",transport="tcp"\} \d+/);
  assert.match(text, /rs_dns_queries_total\{qtype="NONE",rcode="FORMERR",transport="udp"\} \d+/);
  assert.match(text, /rs_dns_answers_total\{first_site="lon"\} \d+/);
  assert.match(text, /rs_dns_site_up\{site="sin"\} 1/);
  assert.match(text, /rs_dns_truncated_total \d+/);
  assert.match(text, /rs_dns_peer_view_fresh\{peer="nyc-dns1"\} 1/);
});
