// Timeouts, with the gateway in this process on a manual clock (so no test waits seconds)
// and real sockets: a slow request head gets 408, an idle client connection is closed, and
// a try that gets no response head in time moves to another instance when the request is
// idempotent and gets 504 when it is not. Subnet 127.117.0.0/16.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger, ManualClock, seededRandom } from "../src/core/index.ts";
import { parsePlanet } from "../src/topology/index.ts";
import { Gateway, PlanetInstanceSource } from "../src/traffic/index.ts";
import { rawExchange, sleep, splitResponses, waitFor } from "./support/gateway-cluster.ts";

const planet = parsePlanet(
  "name: t\nzone: t.test.\nsites:\n  - { name: t, city: T, lat: 0, lon: 0, subnet: 127.117.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 2 } }\n" +
    // The service honours Idempotency-Keys: keyed requests may be retried (not after a timeout).
    "gateway: { services: { www: { idempotencyKeyRetries: true } } }\n",
);
const clock = new ManualClock();
const gw = { host: "127.117.2.1", port: 8080 };

/** A backend that records arrivals and answers only when told to. */
class Backend {
  readonly server: Server;
  readonly arrivals: string[] = [];
  answer = false;
  readonly sockets = new Set<Socket>();
  constructor() {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {});
      s.on("data", (d: Buffer) => {
        this.arrivals.push(d.toString("latin1").split("\r\n")[0]);
        if (this.answer) s.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      });
    });
  }
  listen(host: string): Promise<void> {
    return new Promise((resolve) => this.server.listen(9000, host, resolve));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const backends = [new Backend(), new Backend()];
let gateway: Gateway;

before(async () => {
  await backends[0].listen("127.117.4.1");
  await backends[1].listen("127.117.4.2");
  gateway = new Gateway({
    planet,
    site: "t",
    source: new PlanetInstanceSource(planet, "t"),
    // The manual clock stands still in after(): no DNS wait on stop.
    leaveDnsMs: 0,
    clock,
    random: seededRandom(5),
    probe: async () => true,
    log: createLogger({}, { level: "error" }),
    timeouts: {
      headReadTimeoutMs: 1_000,
      clientIdleTimeoutMs: 5_000,
      perTryTimeoutMs: 2_000,
      requestTimeoutMs: 10_000,
    },
  });
  await gateway.start();
});
after(async () => {
  await Promise.all([gateway.stop(), ...backends.map((b) => b.close())]);
});

/** Moves the manual clock in steps so the gateway's sweep runs. */
async function advance(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 50) {
    clock.advance(50);
    await sleep(1);
  }
}

test("gateway - a request head that does not arrive in time gets 408", async () => {
  const result = rawExchange(gw, "GET / HTTP/1.1\r\nHost: h\r\n", { quietMs: 3_000 });
  await sleep(50);
  await advance(1_200);
  const { bytes, closed } = await result;
  assert.match(bytes.toString("latin1"), /^HTTP\/1\.1 408 /);
  assert.equal(closed, true);
});

test("gateway - a connection that sends nothing, or only CRLF, is closed by the head timer from accept", async () => {
  for (const data of [[], ["\r\n"]]) {
    const result = rawExchange(gw, data, { quietMs: 3_000 });
    await sleep(50);
    await advance(1_200);
    const { bytes, closed } = await result;
    assert.equal(closed, true, `after ${JSON.stringify(data)}`);
    // One that never sent a byte is closed without a 408 (a browser's preconnect must not show one).
    if (data.length === 0) assert.equal(bytes.length, 0);
    else assert.match(bytes.toString("latin1"), /^HTTP\/1\.1 408 /);
  }
});

test("gateway - an idle keep-alive client connection is closed after the idle timeout, not the head timeout", async () => {
  for (const b of backends) b.answer = true;
  let closedAt = -1;
  const result = rawExchange(gw, "GET /k HTTP/1.1\r\nHost: h\r\n\r\n", { quietMs: 8_000 });
  assert.ok((await waitFor(() => backends.some((b) => b.arrivals.length > 0), 2_000)) >= 0);
  await sleep(50);
  // Past the head timeout, idle after its response: still open.
  await advance(2_000);
  void result.then(() => {
    closedAt = clock.monoMs();
  });
  await sleep(50);
  assert.equal(closedAt, -1, "the head timer does not run while the connection is idle");
  await advance(3_500);
  const { bytes, closed } = await result;
  for (const b of backends) {
    b.answer = false;
    b.arrivals.length = 0;
  }
  assert.match(bytes.toString("latin1"), /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(bytes.toString("latin1"), /408/);
  assert.equal(closed, true);
});

test("gateway - an idempotent request moves on after the per-try timeout; an unsafe one gets 504", async () => {
  for (const b of backends) b.arrivals.length = 0;
  const get = rawExchange(gw, "GET /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", { quietMs: 3_000 });
  assert.ok((await waitFor(() => backends.some((b) => b.arrivals.length > 0), 2_000)) >= 0);
  const first = backends.findIndex((b) => b.arrivals.length > 0);
  backends[1 - first].answer = true;
  await advance(2_100);
  const [r] = splitResponses((await get).bytes);
  assert.equal(r?.status, 200, "answered by the other instance");
  assert.equal(backends[1 - first].arrivals.length, 1);

  for (const b of backends) {
    b.answer = false;
    b.arrivals.length = 0;
  }
  const post = rawExchange(gw, "POST /o HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx", {
    quietMs: 3_000,
  });
  assert.ok((await waitFor(() => backends.some((b) => b.arrivals.length > 0), 2_000)) >= 0);
  for (const b of backends) b.answer = true;
  await advance(2_100);
  const [p] = splitResponses((await post).bytes);
  assert.equal(p?.status, 504);
  assert.match(p.body, /RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_TIMEOUT/);
  assert.equal(backends[0].arrivals.length + backends[1].arrivals.length, 1, "the POST was not sent again");
});

test("gateway - a POST with an Idempotency-Key is not sent again after a per-try timeout: the first may still run", async () => {
  for (const b of backends) {
    b.answer = false;
    b.arrivals.length = 0;
  }
  const post = rawExchange(
    gw,
    "POST /k HTTP/1.1\r\nHost: h\r\nIdempotency-Key: k-1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
    { quietMs: 3_000 },
  );
  assert.ok((await waitFor(() => backends.some((b) => b.arrivals.length > 0), 2_000)) >= 0);
  for (const b of backends) b.answer = true;
  await advance(2_100);
  const [p] = splitResponses((await post).bytes);
  assert.equal(p?.status, 504);
  assert.equal(backends[0].arrivals.length + backends[1].arrivals.length, 1, "one try only");
  assert.match(
    (await rawExchange(gw, "GET /_redshirt/metrics HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).bytes.toString(),
    /rs_gateway_retries_denied_total\{reason="may-still-run"\} 1/,
  );
});
