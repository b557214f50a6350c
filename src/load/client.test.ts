// The load generator's client against real parts: our GSLB DNS server (its real HTTP
// probes of the gateways) answering the stub resolver's queries on the wire, and real
// HTTP servers standing in the gateways' addresses, reached through the user's own
// connection pool. Proves: the ECS goes out and the TTL is honoured, the next DNS server
// answers when one is silent, the next address is tried when a connection fails, an
// unknown outcome is retried with the same Idempotency-Key, a definite answer is not.
// Addresses: 127.108.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { createLogger, seededRandom, systemClock } from "../core/index.ts";
import { parsePlanet } from "../topology/index.ts";
import { createDnsServer, type DnsServer, gatewayHealthPath, httpProbe } from "../traffic/index.ts";
import { CookieJar } from "./cookie-jar.ts";
import { createUserAgent } from "./dialer.ts";
import { DnsClient, UserDns } from "./dns-client.ts";
import { runOperation, type UserContext } from "./operation.ts";
import type { Action } from "./user-model.ts";

const gatewayPort = 18_481;
const planet = parsePlanet(`name: loadclient
zone: load.test.
services: [www]
sites:
  - { name: lon, city: London, lat: 51.5, lon: -0.13, subnet: 127.108.0.0/16, tiers: { store: 1, gateway: 2, dns: 1, app: 0 } }
clients:
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68 }
store: { rf: 1 }
dns: { ttlS: 2 }
ports: { gateway: ${gatewayPort} }
wan: { mode: direct }
`);
const [gw1, gw2] = planet.gateways;

type Seen = { path: string; method: string; key: string | undefined; cookie: string | undefined };
/** What each gateway address does with an /api request (healthz always answers 200). */
const behaviour = new Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>();
const seen = new Map<string, Seen[]>();
const servers = new Map<string, http.Server>();

function startGateway(host: string): Promise<void> {
  const server = http.createServer((req, res) => {
    if (req.url === gatewayHealthPath) return void res.end("ok");
    seen.get(host)!.push({
      path: req.url ?? "",
      method: req.method ?? "",
      key: req.headers["idempotency-key"] as string | undefined,
      cookie: req.headers.cookie,
    });
    req.resume();
    req.on("end", () => behaviour.get(host)!(req, res));
  });
  servers.set(host, server);
  seen.set(host, []);
  return new Promise((r) => server.listen(gatewayPort, host, () => r()));
}

function json(
  res: http.ServerResponse,
  host: string,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, {
    "content-type": "application/json",
    "x-served-site": "lon",
    "x-served-instance": `app-at-${host}`,
    ...headers,
  });
  res.end(JSON.stringify(body));
}

let dns: DnsServer;
before(async () => {
  await startGateway(gw1.host);
  await startGateway(gw2.host);
  dns = createDnsServer(
    { planet, site: "lon", index: 1, port: 0, adminPort: 0, secret: Buffer.alloc(32, 1) },
    {
      clock: systemClock,
      random: seededRandom(1),
      logger: createLogger({}, { write: () => {} }),
      probe: httpProbe(systemClock, undefined),
      // The only DNS server of the planet: it decides alone.
      fetchView: async () => {
        throw new Error("no peers");
      },
    },
  );
  await dns.start();
});

after(async () => {
  await dns.stop();
  for (const s of servers.values()) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

function dnsClient(servers: { host: string; port: number }[], timeoutMs = 1_000) {
  return new DnsClient(
    { servers, ecs: { ip: "10.3.7.0", prefix: 24 }, timeoutMs },
    { clock: systemClock, random: seededRandom(3) },
  );
}

function context(user: string): UserContext {
  return {
    user,
    region: "europe",
    agent: createUserAgent(planet, "europe", { connectTimeoutMs: 500 }),
    dns: new UserDns(dnsClient([{ host: dns.self.host, port: dns.port }]), systemClock, "www.load.test."),
    jar: new CookieJar(systemClock),
    host: "www.load.test",
    port: gatewayPort,
    clock: systemClock,
    jitter: seededRandom(9),
    limits: { attemptsMax: 4, opTimeMsMax: 8_000, requestTimeoutMs: 1_000 },
    preferred: { addresses: [], index: 0 },
  };
}

const cartAdd: Action = {
  kind: "cart.add",
  item: "apple",
  quantity: 2,
  request: { method: "POST", path: "/api/cart/items", body: { item: "apple", quantity: 2 } },
};

async function waitForBothGateways(): Promise<void> {
  for (const deadline = Date.now() + 10_000; ; ) {
    const answer = await dnsClient([{ host: dns.self.host, port: dns.port }]).resolve("www.load.test.");
    if (answer.addresses.length === 2) return;
    assert.ok(Date.now() < deadline, `the DNS never listed both gateways: ${answer.addresses}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("load client - the stub resolver's query carries the user's client subnet on the wire and gets the gateways with the TTL", async () => {
  await waitForBothGateways();
  const answer = await dnsClient([{ host: dns.self.host, port: dns.port }]).resolve("www.load.test.");
  assert.deepEqual(answer.addresses, [gw1.host, gw2.host]);
  assert.equal(answer.ttlS, 2);
  assert.equal(answer.overTcp, false);
  assert.deepEqual({ ip: answer.ecs?.ip, source: answer.ecs?.sourcePrefix }, { ip: "10.3.7.0", source: 24 });
});

test("load client - a silent DNS server is left for the next one", async () => {
  const silent = { host: "127.108.3.9", port: dns.port };
  const started = performance.now();
  const answer = await dnsClient([silent, { host: dns.self.host, port: dns.port }], 300).resolve("www.load.test.");
  assert.equal(answer.server, `${dns.self.host}:${dns.port}`);
  assert.ok(performance.now() - started >= 290, "it waited for the silent one first");
  await assert.rejects(dnsClient([silent], 200).resolve("www.load.test."), /RS_ERR_LOAD_DNS|No GSLB DNS server/);
});

test("load client - a user keeps the answer for its TTL and asks again after it", async () => {
  const ctx = context("ttl-user");
  const first = await ctx.dns.addresses();
  assert.equal(await ctx.dns.addresses(), first, "the same answer within the TTL");
  assert.equal((ctx.dns as UserDns).resolutions, 1);
  await new Promise((r) => setTimeout(r, 2_100));
  await ctx.dns.addresses();
  assert.equal((ctx.dns as UserDns).resolutions, 2);
  await ctx.agent.close();
});

test("load client - a failed connection is followed by the next address the DNS gave, once, with the same key", async () => {
  await waitForBothGateways();
  const ctx = context("next-address-user");
  await ctx.dns.addresses();
  behaviour.set(gw2.host, (_req, res) => json(res, gw2.host, 200, { user: "next-address-user", cart: { apple: 2 } }));
  // The first gateway goes away after the user resolved: its address refuses connections.
  const s1 = servers.get(gw1.host)!;
  s1.closeAllConnections();
  await new Promise((r) => s1.close(r));
  seen.get(gw2.host)!.length = 0;
  const stats = { nextAddress: 0, dnsFailures: 0 };
  const { record } = await runOperation(ctx, cartAdd, "k-next-1", stats);
  assert.equal(record.outcome.result, "ok");
  assert.equal(record.attempts, 2);
  assert.deepEqual(record.served, { site: "lon", instance: `app-at-${gw2.host}` });
  assert.deepEqual(
    record.saw,
    { sessionUser: "next-address-user", cart: { apple: 2 } },
    "a mutation's answer shows the cart after it, and is recorded so",
  );
  assert.equal(stats.nextAddress, 1);
  // Each request of the op is in the history: where it went, when, and what came of it.
  const tries = record.tries ?? [];
  assert.deepEqual(
    tries.map((t) => t.address),
    [gw1.host, gw2.host],
  );
  assert.match(tries[0].result, /^connect-failed: .*ECONNREFUSED/);
  assert.equal(tries[1].result, "HTTP 200");
  assert.ok(tries[0].startMs >= record.startMs && tries[0].endMs <= tries[1].startMs && tries[1].endMs <= record.endMs);
  assert.deepEqual(
    seen.get(gw2.host)!.map((s) => s.key),
    ["k-next-1"],
  );
  // The user stays with the address that worked until the next answer; one request, no tries kept.
  const again = await runOperation(ctx, cartAdd, "k-next-2", stats);
  assert.equal(again.record.attempts, 1);
  assert.equal(again.record.tries, undefined);
  await ctx.agent.close();
  await startGateway(gw1.host);
});

test("load client - an unknown outcome is retried with the same Idempotency-Key and the cookie the login set", async () => {
  const ctx = context("retry-user");
  ctx.preferred = { addresses: [], index: 0 };
  let calls = 0;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse, host: string) => {
    if (req.url === "/api/login") {
      return json(
        res,
        host,
        200,
        { session: "s-1", user: "retry-user" },
        { "set-cookie": "rs_session=s-1.t1; Path=/; HttpOnly" },
      );
    }
    calls++;
    if (calls === 1)
      return json(res, host, 503, { error: { code: "RS_ERR_SHOP_STORE", message: "store", definite: false } });
    json(
      res,
      host,
      200,
      { user: "retry-user", cart: { apple: 2 } },
      { "set-cookie": "rs_session=s-1.t2; Path=/; HttpOnly" },
    );
  };
  behaviour.set(gw1.host, (req, res) => handler(req, res, gw1.host));
  behaviour.set(gw2.host, (req, res) => handler(req, res, gw2.host));
  for (const s of seen.values()) s.length = 0;
  const stats = { nextAddress: 0, dnsFailures: 0 };
  const login = await runOperation(
    ctx,
    { kind: "login", request: { method: "POST", path: "/api/login", body: { user: "retry-user" } } },
    "k-login",
    stats,
  );
  assert.equal(login.record.session, "s-1");
  const { record } = await runOperation(ctx, cartAdd, "k-add", stats);
  assert.equal(record.outcome.result, "ok");
  assert.equal(record.attempts, 2);
  assert.equal(record.session, "s-1");
  const adds = [...seen.values()].flat().filter((s) => s.path === "/api/cart/items");
  assert.deepEqual(
    adds.map((s) => s.key),
    ["k-add", "k-add"],
  );
  assert.deepEqual(
    adds.map((s) => s.cookie),
    ["rs_session=s-1.t1", "rs_session=s-1.t1"],
  );
  assert.equal(ctx.jar.get("rs_session"), "s-1.t2", "the fresher token the answer set is kept");
  await ctx.agent.close();
});

test("load client - a definite answer is not retried; a mutation that never got an answer ends unknown after the bounded attempts", async () => {
  const ctx = context("definite-user");
  behaviour.set(gw1.host, (_req, res) =>
    json(res, gw1.host, 409, { error: { code: "RS_ERR_SHOP_CART_EMPTY", message: "empty", definite: true } }),
  );
  behaviour.set(gw2.host, (_req, res) =>
    json(res, gw2.host, 409, { error: { code: "RS_ERR_SHOP_CART_EMPTY", message: "empty", definite: true } }),
  );
  const stats = { nextAddress: 0, dnsFailures: 0 };
  const checkout: Action = { kind: "checkout", request: { method: "POST", path: "/api/checkout" } };
  const definite = await runOperation(ctx, checkout, "k-co-1", stats);
  assert.equal(definite.record.attempts, 1);
  assert.deepEqual(definite.record.outcome, {
    result: "error",
    status: 409,
    message: "RS_ERR_SHOP_CART_EMPTY: empty",
    definite: true,
  });
  // Every gateway takes the request and drops the connection without an answer.
  for (const s of seen.values()) s.length = 0;
  behaviour.set(gw1.host, (req) => req.socket.destroy());
  behaviour.set(gw2.host, (req) => req.socket.destroy());
  const lost = await runOperation(ctx, checkout, "k-co-2", stats);
  assert.equal(lost.record.outcome.result, "unknown");
  assert.equal(lost.record.attempts, 4);
  const keys = [...seen.values()].flat().map((s) => s.key);
  assert.deepEqual(keys, ["k-co-2", "k-co-2", "k-co-2", "k-co-2"]);
  assert.ok(seen.get(gw1.host)!.length > 0 && seen.get(gw2.host)!.length > 0, "both addresses were tried");
  await ctx.agent.close();
});
