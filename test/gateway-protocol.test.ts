// The gateway as an HTTP/1.1 proxy, with real processes: forwarding headers, bodies both
// ways, pipelining, WebSocket upgrade, HTTP/1.0, its own endpoints, and refusal of
// request-smuggling shapes and oversized heads. Subnet 127.110.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { Cluster, get, rawExchange, splitResponses } from "./support/gateway-cluster.ts";

const cluster = new Cluster([{ name: "p", subnet: "127.110", lat: 10, lon: 10, apps: 2 }]);
const gw = cluster.gatewayAddress("p");
const url = cluster.gatewayUrl("p");

before(async () => {
  await cluster.startApps("p");
  await cluster.startGateway("p");
});
after(() => cluster.stop());

test("gateway - forwards with X-Forwarded-*, Forwarded and a request id, without hop-by-hop fields", async () => {
  const { bytes } = await rawExchange(
    gw,
    "GET /h?q=1 HTTP/1.1\r\nHost: shop.test\r\nConnection: close, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\n" +
      "X-Forwarded-For: 10.9.9.9\r\nTE: trailers\r\nX-Keep: k\r\n\r\n",
  );
  const [r] = splitResponses(bytes);
  assert.equal(r.status, 200);
  assert.match(r.head, /connection: close/i);
  const seen = JSON.parse(r.body) as { headers: Record<string, string>; instance: string };
  assert.equal(seen.headers.host, "shop.test");
  assert.equal(seen.headers["x-keep"], "k");
  assert.equal(seen.headers["x-secret"], undefined);
  assert.equal(seen.headers["keep-alive"], undefined);
  assert.equal(seen.headers.te, undefined);
  assert.equal(
    seen.headers["x-forwarded-for"],
    "127.0.0.1",
    "a client's own X-Forwarded-For is replaced, not extended",
  );
  assert.equal(seen.headers["x-forwarded-proto"], "http");
  assert.equal(seen.headers["x-forwarded-host"], "shop.test");
  assert.equal(seen.headers.forwarded, 'for=127.0.0.1;host="shop.test";proto=http');
  assert.match(seen.headers["x-request-id"], /^[0-9a-f-]{36}$/);
  assert.match(seen.instance, /^p-app[12]$/);
});

test("gateway - request bodies stream through by Content-Length and chunked; a large response streams back", async () => {
  const big = Buffer.alloc(1024 * 1024, 97);
  const r1 = await fetch(`${url}/upload`, { method: "POST", body: big });
  assert.equal(r1.status, 200);
  assert.equal(((await r1.json()) as { bodyBytes: number }).bodyBytes, big.length);
  const parts = [Buffer.alloc(100_000, 98), Buffer.alloc(300_000, 99), Buffer.from("end")];
  const stream = new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
  const r2 = await fetch(`${url}/upload-chunked`, { method: "PUT", body: stream, duplex: "half" } as RequestInit);
  assert.equal(((await r2.json()) as { bodyBytes: number }).bodyBytes, 400_003);
  const size = 8 * 1024 * 1024;
  const r3 = await fetch(`${url}/download?size=${size}`);
  assert.equal(r3.status, 200);
  assert.equal((await r3.arrayBuffer()).byteLength, size);
});

test("gateway - pipelined requests are answered in order on one connection", async () => {
  const { bytes, closed } = await rawExchange(
    gw,
    "GET /one HTTP/1.1\r\nHost: h\r\n\r\nGET /two HTTP/1.1\r\nHost: h\r\n\r\nGET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
  );
  const rs = splitResponses(bytes);
  assert.deepEqual(
    rs.map((r) => [r.status, (JSON.parse(r.body) as { url: string }).url]),
    [
      [200, "/one"],
      [200, "/two"],
      [200, "/three"],
    ],
  );
  assert.equal(closed, true);
});

test("gateway - smuggling shapes get 400, oversized heads 431, and none reaches an app", async () => {
  const tag = "X-Test-Tag: smuggle\r\n";
  const shapes = [
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    `GET / HTTP/1.1\nHost: h\n${tag}\n`,
    `GET / HTTP/1.1\r\nHost: h\r\n${tag}X: a\nContent-Length: 5\r\n\r\n`,
    `GET / HTTP/1.2\r\nHost: h\r\n${tag}\r\n`,
    `POST / HTTP/1.0\r\n${tag}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    `GET / HTTP/1.1\r\n${tag}\r\n`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Connection: content-length\r\nContent-Length: 3\r\n\r\nabc`,
    `POST / HTTP/1.1\r\nHost: h\r\n${tag}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`,
  ];
  for (const shape of shapes) {
    const { bytes, closed } = await rawExchange(gw, shape);
    const text = bytes.toString("latin1");
    assert.match(text, /^HTTP\/1\.1 400 /, `for ${JSON.stringify(shape)} got ${JSON.stringify(text.slice(0, 60))}`);
    assert.match(text, /RS_ERR_TRAFFIC_GATEWAY_BAD_REQUEST/);
    assert.equal(closed, true, "the connection is closed after a refusal");
  }
  const huge = `GET / HTTP/1.1\r\nHost: h\r\n${tag}X-Big: ${"a".repeat(20_000)}\r\n\r\n`;
  const { bytes } = await rawExchange(gw, huge);
  assert.match(bytes.toString("latin1"), /^HTTP\/1\.1 431 /);
  const many = `GET / HTTP/1.1\r\nHost: h\r\n${tag}${Array.from({ length: 120 }, (_, i) => `X-${i}: v\r\n`).join("")}\r\n`;
  assert.match((await rawExchange(gw, many)).bytes.toString("latin1"), /^HTTP\/1\.1 431 /);
  const te = `POST / HTTP/1.1\r\nHost: h\r\n${tag}Transfer-Encoding: gzip\r\n\r\n`;
  assert.match((await rawExchange(gw, te)).bytes.toString("latin1"), /^HTTP\/1\.1 501 /);
  assert.equal(cluster.arrivals.filter((a) => a.tag === "smuggle").length, 0, "no refused request reached an app");
  assert.equal((await get(`${url}/still-up`)).status, 200);
});

test("gateway - a WebSocket upgrade becomes a two-way tunnel", async () => {
  let echoed = "";
  const { bytes } = await rawExchange(
    gw,
    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n\r\n",
    {
      quietMs: 800,
      afterFirst: (sock) => {
        sock.write("frame-bytes-1");
        setTimeout(() => sock.write("|frame-bytes-2"), 50);
      },
    },
  );
  const text = bytes.toString("latin1");
  assert.match(text, /^HTTP\/1\.1 101 /);
  assert.match(text, /upgrade: websocket/i);
  echoed = text.slice(text.indexOf("\r\n\r\n") + 4);
  assert.equal(echoed, "frame-bytes-1|frame-bytes-2");
});

test("gateway - an HTTP/1.0 client gets the body without chunked framing, then the connection closes", async () => {
  const { bytes, closed } = await rawExchange(gw, "GET /old?size=100000 HTTP/1.0\r\n\r\n");
  const text = bytes.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(text.slice(0, end), /transfer-encoding/i);
  assert.equal(text.length - end - 4, 100_000);
  assert.equal(closed, true);
});

test("gateway - /_redshirt/healthz, /_redshirt/metrics, and only GET on them", async () => {
  const h = await get(`${url}/_redshirt/healthz`);
  assert.equal(h.status, 200);
  const body = JSON.parse(h.text) as { site: string; healthyInstances: number; ok: boolean };
  assert.equal(body.site, "p");
  assert.equal(body.healthyInstances, 2);
  const m = await get(`${url}/_redshirt/metrics`);
  assert.equal(m.status, 200);
  assert.match(m.text, /rs_gateway_requests_total\{code="200"\} \d+/);
  assert.match(m.text, /rs_gateway_rejected_total\{status="400"\} \d+/);
  assert.match(m.text, /rs_gateway_upstream_latency_ms_bucket/);
  const post = await fetch(`${url}/_redshirt/healthz`, { method: "POST", body: "x" });
  assert.equal(post.status, 405);
  assert.equal((await get(`${url}/_redshirt/nope`)).status, 404);
});

test("gateway - random and mutated requests never take it down (time-bounded)", async () => {
  const base = "POST /f HTTP/1.1\r\nHost: h\r\nX-Test-Tag: fuzz\r\nContent-Length: 5\r\n\r\nhello";
  const mutated = fc
    .tuple(fc.nat({ max: base.length }), fc.nat({ max: 20 }), fc.uint8Array({ maxLength: 20 }))
    .map(([at, cut, bytes]) =>
      Buffer.concat([
        Buffer.from(base.slice(0, at), "latin1"),
        Buffer.from(bytes),
        Buffer.from(base.slice(Math.min(base.length, at + cut)), "latin1"),
      ]),
    );
  const samples = [...fc.sample(mutated, 60), ...fc.sample(fc.uint8Array({ minLength: 1, maxLength: 200 }), 20)];
  const deadline = performance.now() + 4_000;
  let sent = 0;
  for (const s of samples) {
    if (performance.now() > deadline) break;
    const { bytes } = await rawExchange(gw, Buffer.from(s), { quietMs: 100 });
    const text = bytes.toString("latin1");
    assert.ok(
      text === "" || /^HTTP\/1\.1 \d{3} /.test(text),
      `not an HTTP answer: ${JSON.stringify(text.slice(0, 40))}`,
    );
    sent++;
  }
  assert.ok(sent >= 20, `only ${sent} samples sent in time`);
  assert.equal((await get(`${url}/_redshirt/livez`)).status, 200);
  assert.equal((await get(`${url}/after-fuzz`)).status, 200);
});
