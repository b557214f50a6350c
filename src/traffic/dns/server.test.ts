import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import { controlBearerToken, createLogger, ManualClock, seededRandom } from "../../core/index.ts";
import { probeFall, probeIntervalMs } from "./constants.ts";
import { createDnsServer } from "./server.ts";
import { buildQuery, testPlanet } from "./testing.ts";

const secret = Buffer.alloc(32, 7);

test("server - a repeated query gets the cached response with its own id; a health change shows at once", async () => {
  const planet = testPlanet(123);
  const clock = new ManualClock();
  let lonUp = true;
  const server = createDnsServer(
    { planet, site: "nyc", index: 1, port: 0, adminPort: 0, secret },
    {
      clock,
      random: seededRandom(1),
      logger: createLogger({}, { write: () => {} }),
      probe: async (g) => g.site !== "lon" || lonUp,
      fetchView: async () => {
        throw new Error("no peers in this test");
      },
    },
  );
  await server.start();
  try {
    const ctx = { transport: "udp" as const, sourceAddress: "127.0.0.1" };
    const ask = (id: number) =>
      server.handle(buildQuery({ name: "www.gslb.test", id, edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } }), ctx)!;
    const a = ask(1);
    const b = ask(2);
    assert.equal(a.readUInt16BE(0), 1);
    assert.equal(b.readUInt16BE(0), 2);
    assert.deepEqual(a.subarray(2), b.subarray(2));
    assert.equal(dnsPacket.decode(b).answers![0].name, "www.gslb.test");
    const first = (buf: Buffer) => (dnsPacket.decode(buf).answers![0] as dnsPacket.StringAnswer).data;
    assert.equal(first(b), "127.124.2.1", "London first for Europe");
    lonUp = false;
    for (let i = 0; i <= probeFall; i++) {
      clock.advance(probeIntervalMs * 1.2);
      await new Promise((r) => setImmediate(r));
    }
    assert.equal(first(ask(3)), "127.123.2.1", "New York first once London is down");
    const metrics = server.metrics.render();
    assert.match(metrics, /rs_dns_queries_total\{qtype="A",rcode="NOERROR",transport="udp"\} 3/);
    assert.match(metrics, /rs_dns_answers_total\{first_site="lon"\} 2/);
  } finally {
    await server.stop();
  }
});

test("server - start and stop are idempotent, and stop without start does nothing", async () => {
  const planet = testPlanet(123);
  const make = () =>
    createDnsServer(
      { planet, site: "sin", index: 1, port: 0, adminPort: 0, secret },
      {
        clock: new ManualClock(),
        random: seededRandom(2),
        logger: createLogger({}, { write: () => {} }),
        probe: async () => true,
        fetchView: async () => ({}),
      },
    );
  await make().stop();
  const s = make();
  await s.start();
  await s.start();
  assert.ok(s.port > 0 && s.adminPort > 0);
  await s.stop();
  await s.stop();
});

test("server - a weights write needs the planet's control token (401 otherwise, counted); reads stay open", async () => {
  const planet = testPlanet(123);
  const server = createDnsServer(
    { planet, site: "lon", index: 1, port: 0, adminPort: 0, secret },
    {
      clock: new ManualClock(1_000_000),
      random: seededRandom(3),
      logger: createLogger({}, { write: () => {} }),
      probe: async () => true,
      fetchView: async () => {
        throw new Error("no peers in this test");
      },
    },
  );
  await server.start();
  try {
    // The admin endpoint is on the management address, not on the public DNS address.
    assert.equal(server.adminHost, "127.124.7.1");
    await assert.rejects(fetch(`http://${server.self.host}:${server.adminPort}/_redshirt/dns/weights`));
    const base = `http://${server.adminHost}:${server.adminPort}/_redshirt/dns/weights`;
    const put = (path: string, body: unknown, token?: string) =>
      fetch(`${base}${path}`, {
        method: "PUT",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
    const none = await put("", { weights: { lon: 0 } });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="redshirt"');
    const err = ((await none.json()) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, "RS_ERR_TRAFFIC_DNS_UNAUTHORIZED");
    assert.match(err.message, /no Authorization header/);
    const wrong = await put("/lon", { weight: 0 }, controlBearerToken(Buffer.alloc(32, 8)));
    assert.equal(wrong.status, 401);
    assert.match(((await wrong.json()) as { error: { message: string } }).error.message, /does not match/);
    assert.deepEqual(((await (await fetch(base)).json()) as { weights: object }).weights, {}, "nothing changed");
    const token = controlBearerToken(secret);
    assert.equal((await put("/lon", { weight: 0 }, token)).status, 200);
    assert.equal((await put("/sin", { weight: 40 }, token)).status, 200);
    const bad = await put("/sin", { weight: 101 }, token);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /weight/);
    assert.equal((await put("/atlantis", { weight: 1 }, token)).status, 400);
    const got = (await (await fetch(base)).json()) as { weights: Record<string, number> };
    assert.deepEqual(got.weights, { lon: 0, sin: 40 }, "one site at a time: the other keeps its weight");
    assert.match(server.metrics.render(), /rs_dns_admin_unauthorized_total 2/);
  } finally {
    await server.stop();
  }
});
