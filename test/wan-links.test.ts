// The emulated WAN as real processes: one `redshirt wan` per site of a three-site planet at
// the demo's coordinates and route stretch (New York, London, Singapore), with stand-in
// echo servers on each site's gateway (TCP) and DNS (UDP) addresses. Round trips measured
// through the links match the planet's distances within 10 %; a cut stops traffic between
// two sites both ways, over TCP and UDP, while other links carry on, and heal restores it;
// the admin endpoint refuses requests without the control token.
// Addresses: 127.176.0.0/16 – 127.179.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import { type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import {
  dialAddress,
  type Endpoint,
  linkOneWayMs,
  loadPlanet,
  type Planet,
  parsePlanet,
  siteRttMs,
} from "../src/topology/index.ts";
import { WanAdminClient } from "../src/wan/index.ts";
import { pathRtt } from "./support/rtt.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rs-wan-links-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: wantest
zone: wan.test.
sites:
  - { name: nyc, city: New York, lat: 40.7128, lon: -74.0060, subnet: 127.176.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 0 } }
  - { name: lon, city: London, lat: 51.5074, lon: -0.1278, subnet: 127.177.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 0 } }
  - { name: sin, city: Singapore, lat: 1.3521, lon: 103.8198, subnet: 127.178.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 0 } }
clients:
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68, subnet: 127.179.0.0/16 }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: emulated, routeStretch: 1.5, fiberKmPerMs: 200, jitterMs: 1 }
`,
);
const planet: Planet = loadPlanet(planetFile);
const secret = loadPlanetSecret(join(dir, "data"), { create: true });
const admin = new WanAdminClient({ planet, secret });
const wanProcesses: Launched[] = [];
const servers: Server[] = [];
const udpServers: dgram.Socket[] = [];
const sockets = new Set<Socket>();

const gatewayOf = (site: string): Endpoint => planet.gateways.find((g) => g.site === site)!;
const dnsOf = (site: string): Endpoint => planet.dnsServers.find((d) => d.site === site)!;
/** A dialer's own address in its site (the gateway's), so the target sees who calls. */
const sourceOf = (from: string): string =>
  planet.sites.some((s) => s.name === from) ? gatewayOf(from).host : "127.179.1.1";

before(async () => {
  // Stand-ins for every site's gateway (TCP echo) and DNS server (UDP echo).
  for (const site of planet.sites) {
    const gw = gatewayOf(site.name);
    const server = createServer((s) => {
      s.on("error", () => {});
      s.pipe(s);
    });
    servers.push(server);
    // A taken address fails the file at once (another run of it?) instead of hanging it.
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(gw.port, gw.host, resolve);
    });
    const dns = dnsOf(site.name);
    const udp = dgram.createSocket("udp4");
    udp.on("message", (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    udpServers.push(udp);
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.bind(dns.port, dns.host, () => resolve());
    });
  }
  const started = await Promise.all(
    planet.sites.map((s) =>
      launch({
        name: `wan ${s.name}`,
        command: nodeBin,
        args: [cliMain, "wan", "--planet", planetFile, "--site", s.name],
      }),
    ),
  );
  wanProcesses.push(...started);
});

after(async () => {
  for (const s of sockets) s.destroy();
  await admin.close();
  await stopAll(wanProcesses);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  for (const u of udpServers) u.close();
  rmSync(dir, { recursive: true, force: true });
});

function open(from: string, target: Endpoint): Promise<Socket> {
  const addr = dialAddress(planet, from, target);
  return new Promise((resolve, reject) => {
    const s = connect({ ...addr, localAddress: sourceOf(from), noDelay: true });
    sockets.add(s);
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

/** Writes a token and waits for it to come back: the milliseconds taken, or "timeout". */
function echo(s: Socket, token: string, boundMs: number): Promise<number | "timeout"> {
  const started = performance.now();
  return new Promise((resolve) => {
    let got = "";
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got.includes(token)) finish(performance.now() - started);
    };
    const timer = setTimeout(() => finish("timeout"), boundMs);
    const finish = (r: number | "timeout") => {
      clearTimeout(timer);
      s.off("data", onData);
      resolve(r);
    };
    s.on("data", onData);
    s.write(token);
  });
}

/** Sends datagrams from one socket (one session on the link): the echo's round trip, or "timeout". */
async function udpAsk(
  from: string,
  site: string,
  token: string,
  boundMs: number,
  wantMs?: number,
): Promise<number | "timeout"> {
  const addr = dialAddress(planet, from, dnsOf(site));
  const client = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => client.bind(0, sourceOf(from), resolve));
  const once = (t: string) =>
    new Promise<number | "timeout">((resolve) => {
      const started = performance.now();
      const onMessage = (msg: Buffer) => {
        if (msg.toString() === t) finish(performance.now() - started);
      };
      const finish = (r: number | "timeout") => {
        clearTimeout(timer);
        client.off("message", onMessage);
        resolve(r);
      };
      const timer = setTimeout(() => finish("timeout"), boundMs);
      client.on("message", onMessage);
      client.send(t, addr.port, addr.host);
    });
  try {
    const first = await once(`${token}-open`); // also opens the session on the link
    if (first === "timeout" || wantMs === undefined) return first;
    let timedOut = false;
    const rtt = await pathRtt(async (i) => {
      const r = await once(`${token}-${i}`);
      if (r === "timeout") timedOut = true;
      return r === "timeout" ? Number.POSITIVE_INFINITY : r;
    }, wantMs);
    return timedOut ? "timeout" : rtt;
  } finally {
    client.close();
  }
}

/** The TCP round trip from a dialer to a site's gateway over an open connection. */
async function measureRtt(from: string, to: string, wantMs: number): Promise<number> {
  const s = await open(from, gatewayOf(to));
  try {
    const first = await echo(s, `hello-${from}-${to}`, 5_000); // pays the handshake too
    assert.notEqual(first, "timeout");
    return await pathRtt(async (i) => {
      const r = await echo(s, `rtt-${i}-${from}-${to};`, 5_000);
      assert.notEqual(r, "timeout", `${from}->${to} echo ${i}`);
      return r as number;
    }, wantMs);
  } finally {
    s.destroy();
  }
}

test("wan links - the test planet has the demo planet's distances: New York–London ~84 ms, New York–Singapore ~230 ms", () => {
  const demo = parsePlanet(readFileSync(new URL("../examples/planet.yaml", import.meta.url), "utf8"));
  for (const [a, b] of [
    ["nyc", "lon"],
    ["nyc", "sin"],
    ["lon", "sin"],
  ]) {
    assert.ok(Math.abs(siteRttMs(planet, a, b) - siteRttMs(demo, a, b)) < 0.01, `${a}-${b}`);
  }
  assert.ok(Math.abs(siteRttMs(planet, "nyc", "lon") - 83.6) < 0.5);
  assert.ok(Math.abs(siteRttMs(planet, "nyc", "sin") - 230) < 1);
});

test("wan links - TCP round trips between every pair of sites match the planet's distances within 10 %", async () => {
  const pairs = planet.sites.flatMap((a) => planet.sites.filter((b) => b.name !== a.name).map((b) => [a.name, b.name]));
  const measured = await Promise.all(pairs.map(([a, b]) => measureRtt(a, b, siteRttMs(planet, a, b))));
  pairs.forEach(([a, b], i) => {
    const want = siteRttMs(planet, a, b);
    const got = measured[i];
    assert.ok(got >= want - 1, `${a}->${b}: ${got.toFixed(1)} ms is faster than light allows (${want.toFixed(1)} ms)`);
    assert.ok(
      Math.abs(got - want) <= want * 0.1,
      `${a}->${b}: measured ${got.toFixed(1)} ms, planet says ${want.toFixed(1)} ms`,
    );
  });
});

test("wan links - a region's access link to each site has the round trip of its distance, over TCP and UDP", async () => {
  for (const site of planet.sites) {
    const want = 2 * linkOneWayMs(planet, "europe", site.name);
    // Frankfurt–London is short (~10 ms): there the 1 ms of jitter each way and a timer tick
    // matter more than 10 %, so the bound is at least 4 ms.
    const boundMs = Math.max(want * 0.1, 4);
    const tcp = await measureRtt("europe", site.name, want);
    assert.ok(tcp >= want - 1 && tcp - want <= boundMs, `europe->${site.name} tcp ${tcp} vs ${want}`);
    const udp = await udpAsk("europe", site.name, `q-${site.name}`, 2_000, want);
    assert.ok(
      typeof udp === "number" && udp >= want - 1 && udp - want <= boundMs,
      `europe->${site.name} udp ${udp} vs ${want}`,
    );
  }
});

test("wan links - a cut stops traffic between two sites both ways over TCP and UDP, other links carry on, heal restores it", async () => {
  const ab = await open("nyc", gatewayOf("lon"));
  const ba = await open("lon", gatewayOf("nyc"));
  assert.notEqual(await echo(ab, "warm-ab", 2_000), "timeout");
  assert.notEqual(await echo(ba, "warm-ba", 2_000), "timeout");
  const cut = await admin.cutBetween("nyc", "lon");
  assert.deepEqual(cut.map((l) => [l.id, l.cut]).sort(), [
    ["lon->nyc", true],
    ["nyc->lon", true],
  ]);
  try {
    // In flight across the cut: nothing arrives, either way, on old or new connections.
    const during = [echo(ab, "cut-ab", 8_000), echo(ba, "cut-ba", 8_000)];
    const fresh = await open("nyc", gatewayOf("lon"));
    const duringFresh = echo(fresh, "cut-fresh", 8_000);
    const [udpAb, udpBa] = await Promise.all([
      udpAsk("nyc", "lon", "cut-udp-ab", 800),
      udpAsk("lon", "nyc", "cut-udp-ba", 800),
    ]);
    assert.equal(udpAb, "timeout");
    assert.equal(udpBa, "timeout");
    // The other links are untouched.
    const nycSin = siteRttMs(planet, "nyc", "sin");
    assert.ok((await measureRtt("nyc", "sin", nycSin)) <= nycSin * 1.1);
    assert.notEqual(await udpAsk("lon", "sin", "other-udp", 2_000), "timeout");
    const listed = (await admin.links("nyc")).links.find((l) => l.id === "nyc->lon");
    assert.equal(listed?.cut, true);
    await admin.healBetween("nyc", "lon");
    const healed = await Promise.all([...during, duringFresh]);
    for (const r of healed) assert.notEqual(r, "timeout", "what waited out the cut arrives after heal");
    assert.notEqual(await udpAsk("nyc", "lon", "healed-udp", 2_000), "timeout");
    fresh.destroy();
  } finally {
    await admin.healBetween("nyc", "lon");
    ab.destroy();
    ba.destroy();
  }
});

test("wan links - slow adds delay to a link at run time and lifts it again", async () => {
  const base = siteRttMs(planet, "lon", "sin");
  await admin.slow("lon", "sin", { extraDelayMs: 40 });
  try {
    const slowed = await measureRtt("lon", "sin", base + 80);
    assert.ok(Math.abs(slowed - (base + 80)) <= (base + 80) * 0.1, `slowed ${slowed} vs ${base + 80}`);
  } finally {
    await admin.slow("lon", "sin", { extraDelayMs: 0 });
  }
  const listed = (await admin.links("lon")).links.find((l) => l.id === "lon->sin");
  assert.equal(listed?.extraDelayMs, 0);
});

test("wan links - the listing and the metrics count bytes and connections per link; no socket errors in a healthy run", async () => {
  const all = await admin.allLinks();
  assert.equal(all.length, 3 * 2 + 3, "two outbound links per site, one access link per site from europe");
  const nycLon = all.find((l) => l.id === "nyc->lon")!;
  assert.ok(nycLon.bytes.forward > 0 && nycLon.bytes.back > 0, JSON.stringify(nycLon.bytes));
  assert.ok(nycLon.connections.total >= 3);
  assert.ok(nycLon.datagrams.forward >= 1 && nycLon.datagrams.dropped >= 1);
  assert.ok(Math.abs(nycLon.rttMs - siteRttMs(planet, "nyc", "lon")) < 0.01);
  const text = await admin.metrics("nyc");
  const forward = /redshirt_wan_bytes_total\{direction="forward",link="nyc->lon"\} (\d+)/.exec(text);
  assert.ok(forward && Number(forward[1]) === nycLon.bytes.forward, "the metric and the listing agree");
  for (const site of planet.sites) {
    const m = await admin.metrics(site.name);
    const errors = [...m.matchAll(/^redshirt_wan_socket_errors_total(\{.*\})? (\d+)$/gm)].filter((x) => x[2] !== "0");
    assert.deepEqual(
      errors.map((x) => x[0]),
      [],
      `socket errors on ${site.name}`,
    );
  }
});

test("wan links - the admin endpoint refuses requests without the control token, with a JSON error", async () => {
  const w = planet.wanProcesses[0];
  const base = `http://${w.host}:${w.port}/_redshirt/wan`;
  for (const [method, path, authorization] of [
    ["GET", "/links", undefined],
    ["GET", "/links", "Bearer 00ff"],
    ["POST", "/cut", undefined],
    ["GET", "/metrics", "Basic abc"],
  ] as const) {
    const res = await request(`${base}${path}`, {
      method,
      headers: authorization ? { authorization } : {},
      body: method === "POST" ? JSON.stringify({ from: "nyc", to: "lon" }) : undefined,
    });
    assert.equal(res.statusCode, 401, `${method} ${path}`);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer/);
    const body = (await res.body.json()) as { error: { code: string } };
    assert.equal(body.error.code, "RS_ERR_WAN_UNAUTHORIZED");
  }
  const listed = (await admin.links("nyc")).links.find((l) => l.id === "nyc->lon");
  assert.equal(listed?.cut, false, "an unauthenticated cut changes nothing");
  // Authenticated but wrong: errors that name the problem.
  await assert.rejects(admin.cut("nyc", "mars"), /RS_ERR_WAN_UNKNOWN_LINK|a link goes to a site/);
  await assert.rejects(admin.slow("nyc", "lon", {}), /RS_ERR_WAN_BAD_REQUEST: .*give extraDelayMs/);
});

/**
 * Runs the CLI to its end (bounded), as an operator would. Asynchronously: the echoes that
 * wait out a cut must keep running (and see their answer arrive) while a command starts.
 */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      nodeBin,
      [cliMain, ...args, "--planet", planetFile],
      { encoding: "utf8", timeout: 15_000 },
      (err, stdout, stderr) => {
        const status = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ status, stdout, stderr });
      },
    );
  });
}

test("wan links - `redshirt wan cut` partitions two sites both ways, `wan links` shows it, `wan heal` restores them", async () => {
  const ab = await open("nyc", gatewayOf("sin"));
  const ba = await open("sin", gatewayOf("nyc"));
  assert.notEqual(await echo(ab, "cli-warm-ab", 2_000), "timeout");
  const cut = await cli("wan", "cut", "nyc", "sin");
  try {
    assert.equal(cut.status, 0, cut.stderr);
    assert.match(cut.stdout, /^nyc->sin: CUT/m);
    assert.match(cut.stdout, /^sin->nyc: CUT/m);
    // Three more commands run before the heal: on a loaded machine each Node start takes seconds.
    const during = [echo(ab, "cli-cut-ab", 30_000), echo(ba, "cli-cut-ba", 30_000)];
    assert.equal(await udpAsk("nyc", "sin", "cli-cut-udp", 800), "timeout");
    const listed = await cli("wan", "links", "--json");
    assert.equal(listed.status, 0, listed.stderr);
    const links = JSON.parse(listed.stdout) as Array<{ id: string; cut: boolean }>;
    assert.deepEqual(
      links
        .filter((l) => l.cut)
        .map((l) => l.id)
        .sort(),
      ["nyc->sin", "sin->nyc"],
    );
    const table = await cli("wan", "links");
    assert.match(table.stdout, /^LINK\s+FROM\s+KM\s+RTT_MS/m);
    assert.match(table.stdout, /^nyc->sin\s.*\sCUT\s/m);
    const heal = await cli("wan", "heal", "sin", "nyc");
    assert.equal(heal.status, 0, heal.stderr);
    for (const r of await Promise.all(during))
      assert.notEqual(r, "timeout", "what waited out the cut arrives after heal");
  } finally {
    await admin.healBetween("nyc", "sin");
    ab.destroy();
    ba.destroy();
  }
});

test("wan links - `redshirt wan slow` sets extra delay; bad names and fields get errors naming them, not a crash", async () => {
  const slow = await cli("wan", "slow", "lon", "sin", "--delay-ms", "25");
  try {
    assert.equal(slow.status, 0, slow.stderr);
    const listed = (await admin.allLinks()).filter((l) => l.extraDelayMs === 25).map((l) => l.id);
    assert.deepEqual(listed.sort(), ["lon->sin", "sin->lon"]);
  } finally {
    await admin.slowBetween("lon", "sin", { extraDelayMs: 0 });
  }
  for (const [args, pattern] of [
    [["wan", "cut", "nyc", "paris"], /B: "paris"/],
    [["wan", "cut", "mars", "nyc"], /A: "mars"/],
    [["wan", "slow", "nyc", "lon"], /--delay-ms/],
    [["wan", "slow", "nyc", "lon", "--delay-ms", "3x"], /--delay-ms: "3x"/],
    [["wan", "slow", "nyc", "lon", "--bandwidth-mbps", "0"], /--bandwidth-mbps: "0"/],
    [["wan", "cut", "nyc"], /takes A B/],
    [["wan", "zap", "nyc", "lon"], /unknown action "zap"/],
  ] as const) {
    const r = await cli(...args);
    assert.notEqual(r.status, 0, args.join(" "));
    assert.match(r.stderr, pattern, args.join(" "));
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "an error message, not a stack trace");
  }
  assert.equal((await admin.allLinks()).filter((l) => l.cut).length, 0, "no bad command cut anything");
});

test("wan links - on a planet with wan.mode direct, `redshirt wan cut` says there is nothing to cut", () => {
  const directFile = join(dir, "direct.yaml");
  writeFileSync(directFile, readFileSync(planetFile, "utf8").replace("mode: emulated", "mode: direct"));
  const r = spawnSync(nodeBin, [cliMain, "wan", "cut", "nyc", "lon", "--planet", directFile], {
    encoding: "utf8",
    timeout: 15_000,
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /wan\.mode: direct/);
  assert.match(r.stderr, /RS_ERR_WAN_DIRECT/);
});
