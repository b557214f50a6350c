// The gateway under hostile and overloaded clients, with real processes and sockets: a
// connection that sends only CRLF is closed by the head timer; one source address cannot
// hold more connections than its cap, nor send more requests per second; a site whose
// instances are all saturated stays healthy (DNS keeps it) and answers the excess 503 with
// Retry-After, without pouring it onto another site; a client's forged RS-Hop changes
// nothing; an app cannot forge the gateway's RS-Error to make it re-send a POST.
// Sites: h (2 apps), e (1 app), z (no app: forwards everything).
// Addresses: 127.206.0.0/16 – 127.208.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { Cluster, get, rawExchange, sleep, splitResponses, waitFor } from "./support/gateway-cluster.ts";

const headTimeoutMs = 3_000;
const connectionsPerSourceMax = 12;
const requestsPerSourcePerS = 20;
const cluster = new Cluster(
  [
    { name: "h", subnet: "127.206", lat: 0, lon: 0, apps: 2 },
    { name: "e", subnet: "127.207", lat: 10, lon: 10, apps: 1 },
    { name: "z", subnet: "127.208", lat: 1, lon: 1, apps: 0 },
  ],
  {
    planetLines: [
      "gateway:",
      `  headTimeoutMs: ${headTimeoutMs}`,
      "  lingerTimeoutMs: 1000",
      `  connectionsPerSourceMax: ${connectionsPerSourceMax}`,
      `  requestsPerSourcePerS: ${requestsPerSourcePerS}`,
      "  instanceRequestsMax: 2",
      "  pendingPerInstanceMax: 2",
      "  queueTimeoutMs: 8000",
    ],
  },
);
const h = cluster.gatewayAddress("h");
const z = cluster.gatewayAddress("z");
/** Each test speaks from its own source address, so one test's caps never touch another's. */
const source = (k: number): string => `127.206.9.${k}`;

before(async () => {
  await Promise.all(["h", "e"].map((s) => cluster.startApps(s)));
  await Promise.all(["h", "e", "z"].map((s) => cluster.startGateway(s)));
});
after(() => cluster.stop());

async function metric(site: string, line: string): Promise<number> {
  const text = (await get(`${cluster.gatewayUrl(site)}/_redshirt/metrics`)).text;
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found === undefined ? 0 : Number(found.split(" ").at(-1));
}

type Held = { socket: Socket; got: Buffer[]; closed: () => boolean };

function open(localAddress: string): Promise<Held> {
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let closed = false;
    const socket = connect({ ...h, localAddress });
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("close", () => {
      closed = true;
    });
    socket.on("error", () => {});
    socket.once("connect", () => resolve({ socket, got, closed: () => closed }));
    socket.once("error", reject);
  });
}

test("gateway hostile - a connection that sends only CRLF is closed within the head timeout (408)", async () => {
  const startMs = performance.now();
  const { bytes, closed } = await rawExchange({ ...h, localAddress: source(1) }, "\r\n", { quietMs: 10_000 });
  const tookMs = performance.now() - startMs;
  assert.equal(closed, true);
  assert.match(bytes.toString("latin1"), /^HTTP\/1\.1 408 /);
  assert.ok(tookMs >= headTimeoutMs - 100, `closed after ${tookMs.toFixed(0)} ms, not before the timeout`);
  assert.ok(tookMs < headTimeoutMs + 1_500, `closed after ${tookMs.toFixed(0)} ms`);
  assert.ok((await metric("h", 'rs_gateway_client_closes_total{timer="head"}')) >= 1);
});

test("gateway hostile - one source cannot hold more connections than its cap; others still get in", async () => {
  const conns: Held[] = [];
  for (let i = 0; i < connectionsPerSourceMax + 4; i++) conns.push(await open(source(2)));
  try {
    const refused = () => conns.filter((c) => c.closed());
    assert.ok((await waitFor(() => refused().length >= 4, 2_000)) >= 0, `${refused().length} closed`);
    await sleep(100);
    assert.equal(refused().length, 4, "exactly the connections past the cap are closed");
    for (const c of refused()) {
      const text = Buffer.concat(c.got).toString("latin1");
      assert.match(text, /^HTTP\/1\.1 429 /);
      assert.match(text, /retry-after: 1/i);
      assert.match(text, /RS_ERR_TRAFFIC_GATEWAY_TOO_MANY_CONNECTIONS/);
    }
    // Another source is not affected.
    const [other] = splitResponses(
      (await rawExchange({ ...h, localAddress: source(3) }, "GET /o HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
        .bytes,
    );
    assert.equal(other.status, 200);
    // A freed slot can be taken again.
    const held = conns.filter((c) => !c.closed());
    held[0].socket.destroy();
    await sleep(150);
    const again = await open(source(2));
    conns.push(again);
    await sleep(300);
    assert.equal(again.closed(), false, "a connection under the cap stays open");
    assert.equal(await metric("h", 'rs_gateway_source_limited_total{limit="connections"}'), 4);
  } finally {
    for (const c of conns) c.socket.destroy();
  }
});

test("gateway hostile - one source cannot send more requests per second than its cap: 429 with Retry-After, counted", async () => {
  const statuses: number[] = [];
  const heads: string[] = [];
  const startMs = performance.now();
  for (let i = 0; i < requestsPerSourcePerS + 15; i++) {
    const { bytes } = await rawExchange(
      { ...h, localAddress: source(4) },
      `GET /r${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
    );
    const [r] = splitResponses(bytes);
    statuses.push(r.status);
    heads.push(r.head);
  }
  const tookS = (performance.now() - startMs) / 1000;
  const limited = statuses.filter((s) => s === 429).length;
  assert.deepEqual(statuses.slice(0, requestsPerSourcePerS), Array(requestsPerSourcePerS).fill(200), "the burst");
  // The bucket refills at the rate meanwhile: at most that many more got through.
  assert.ok(limited >= 15 - Math.ceil(tookS * requestsPerSourcePerS), `${limited} limited in ${tookS.toFixed(2)} s`);
  assert.ok(limited > 0);
  for (const [i, s] of statuses.entries()) if (s === 429) assert.match(heads[i], /retry-after: 1/i);
  assert.equal(await metric("h", 'rs_gateway_source_limited_total{limit="rate"}'), limited);
});

test("gateway hostile - a site whose instances are all saturated stays healthy and answers the excess 503 with Retry-After", async () => {
  const forwardedBefore = await metric("h", 'rs_gateway_cross_site_forwards_total{site="e"}');
  const eApp = cluster.apps.get("e-app1")!;
  const eArrivals = eApp.arrivals.length;
  // 2 instances × 2 in flight + 2 × 2 queued = 8 served; the other 4 are the excess.
  const slow = Array.from({ length: 12 }, (_, i) =>
    rawExchange(
      { ...h, localAddress: source(5) },
      `GET /slow${i}?delayMs=1500 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`,
      { quietMs: 8_000 },
    ),
  );
  await sleep(600);
  const healthz = await get(`${cluster.gatewayUrl("h")}/_redshirt/healthz`);
  assert.equal(healthz.status, 200, "saturated is not unhealthy: DNS keeps the site");
  const hz = JSON.parse(healthz.text) as { ok: boolean; liveInstances: number };
  assert.equal(hz.liveInstances, 2);
  const backends = JSON.parse((await get(`${cluster.gatewayUrl("h")}/_redshirt/backends`)).text) as {
    backends: { why: string | null; inFlight: number; queued: number }[];
  };
  assert.deepEqual(
    backends.backends.map((b) => [b.why, b.inFlight, b.queued]),
    [
      ["saturated", 2, 2],
      ["saturated", 2, 2],
    ],
  );
  const results = (await Promise.all(slow)).map((r) => splitResponses(r.bytes)[0]);
  const ok = results.filter((r) => r.status === 200);
  const shed = results.filter((r) => r.status === 503);
  assert.equal(ok.length, 8, "what the instances and their queues hold is served");
  assert.equal(shed.length, 4);
  for (const r of shed) {
    assert.match(r.head, /retry-after: 1/i);
    assert.match(r.body, /RS_ERR_TRAFFIC_GATEWAY_OVERLOADED/);
  }
  assert.equal(await metric("h", 'rs_gateway_overloaded_total{why="queue-full"}'), 4);
  assert.equal(
    await metric("h", 'rs_gateway_cross_site_forwards_total{site="e"}'),
    forwardedBefore,
    "the excess is not poured onto another site",
  );
  assert.equal(eApp.arrivals.length, eArrivals);
});

test("gateway hostile - a forged RS-Hop from a client changes nothing: failover stays on, forwarding fields replaced", async () => {
  const { bytes } = await rawExchange(
    { ...z, localAddress: "127.208.9.1" },
    "GET /forged HTTP/1.1\r\nHost: h\r\nRS-Hop: e\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.example\r\n" +
      "X-Forwarded-Proto: https\r\nForwarded: for=6.6.6.6;host=evil.example\r\nConnection: close\r\n\r\n",
  );
  const [r] = splitResponses(bytes);
  assert.equal(r.status, 200, "z has no instance: it failed over as for any client");
  const seen = JSON.parse(r.body) as { instance: string; headers: Record<string, string> };
  assert.equal(seen.instance.split("-")[0], "h", "the nearest site with capacity");
  assert.equal(seen.headers["rs-hop"], undefined, "RS-Hop never reaches an app");
  // z saw the client, h saw z: what the client claimed is gone.
  assert.equal(seen.headers["x-forwarded-for"], "127.208.9.1, 127.208.2.1");
  assert.equal(seen.headers["x-forwarded-host"], "h");
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(seen.headers.forwarded, 'for=127.208.9.1;host="h";proto=http, for=127.208.2.1;host="h";proto=http');
  assert.doesNotMatch(JSON.stringify(seen.headers), /6\.6\.6\.6|evil/);
  assert.equal(await metric("z", 'rs_gateway_untrusted_hops_total{why="not-a-peer"}'), 1);
  assert.equal(await metric("h", "rs_gateway_untrusted_hops_total"), 0, "z's own hop was believed");
});

test("gateway hostile - an app's RS-Error is dropped, so it cannot make a gateway re-send a POST to another site", async () => {
  const eApp = cluster.apps.get("e-app1")!;
  const before = eApp.arrivals.length;
  const hArrivals = () => cluster.arrivals.filter((a) => a.url.startsWith("/forge-error")).length;
  const { bytes } = await rawExchange(
    { ...z, localAddress: "127.208.9.2" },
    "POST /forge-error?status=503&rsError=RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND HTTP/1.1\r\nHost: h\r\n" +
      "Content-Length: 2\r\nConnection: close\r\n\r\nhi",
  );
  const [r] = splitResponses(bytes);
  assert.equal(r.status, 503, "the app's own answer, passed on");
  assert.doesNotMatch(r.head, /rs-error|rs-internal/i);
  assert.match(r.head, /x-instance: h-app/i);
  assert.equal(hArrivals(), 1, "the POST reached one app, once");
  assert.equal(eApp.arrivals.length, before, "and was not re-sent to site e");
});
