// The smaller parser gaps, closed, each shown over real sockets with the gateway in this
// process and a raw backend that answers exactly the bytes a test gives it: '#' and '\' in
// targets are refused; an HTTP/1.0 response with Transfer-Encoding is refused; a valid
// "gzip, chunked" response passes; a 101 that switches to a protocol the client did not ask
// for does not tunnel; trailers lose hop-by-hop and RS-* fields both ways; a head that
// arrives one byte per write is read in linear time.
// Addresses: 127.209.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger, seededRandom } from "../src/core/index.ts";
import { parsePlanet } from "../src/topology/index.ts";
import { Gateway, PlanetInstanceSource } from "../src/traffic/index.ts";
import { rawExchange, splitResponses } from "./support/gateway-cluster.ts";

const planet = parsePlanet(
  "name: p\nzone: p.test.\nsites:\n  - { name: p, city: P, lat: 0, lon: 0, subnet: 127.209.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 1 } }\n",
);
const gw = { host: "127.209.2.1", port: 8080 };

/** Answers each request with the raw bytes `answers` holds for its path; records what arrived. */
class RawBackend {
  readonly server: Server;
  readonly answers = new Map<string, string>();
  readonly received: string[] = [];
  readonly sockets = new Set<Socket>();
  constructor() {
    this.server = createServer((s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => {});
      let buf = "";
      s.on("data", (d: Buffer) => {
        buf += d.toString("latin1");
        const path = /^[A-Z]+ (\S+) /.exec(buf)?.[1];
        // Answer once the request (a body ending in the chunked terminator or none) is in.
        const done = buf.includes("Transfer-Encoding: chunked")
          ? /\r\n0\r\n(.*\r\n)*\r\n$/.test(buf)
          : buf.endsWith("\r\n\r\n");
        if (path === undefined || !done) return;
        this.received.push(buf);
        buf = "";
        s.write(this.answers.get(path) ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
      });
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(9000, "127.209.4.1", resolve));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const backend = new RawBackend();
let gateway: Gateway;

before(async () => {
  await backend.listen();
  gateway = new Gateway({
    planet,
    site: "p",
    source: new PlanetInstanceSource(planet, "p"),
    leaveDnsMs: 0,
    random: seededRandom(9),
    probe: async () => true,
    log: createLogger({}, { level: "error" }),
  });
  await gateway.start();
});
after(async () => {
  await Promise.all([gateway.stop({ fast: true }), backend.close()]);
});

async function ask(request: string): Promise<{ status: number; head: string; text: string }> {
  const { bytes } = await rawExchange(gw, request, { quietMs: 1_000 });
  const text = bytes.toString("latin1");
  return { status: Number(text.slice(9, 12)), head: text.slice(0, text.indexOf("\r\n\r\n")), text };
}

test("gateway parser - '#' and '\\' in a request target are refused with 400 and reach no app", async () => {
  const before = backend.received.length;
  for (const target of ["/a#frag", "/a\\..\\admin", "/%5c/ok#x"]) {
    const r = await ask(`GET ${target} HTTP/1.1\r\nHost: h\r\n\r\n`);
    assert.equal(r.status, 400, target);
    assert.match(r.text, /invalid request target/);
  }
  assert.equal(backend.received.length, before);
});

test("gateway parser - an HTTP/1.0 response with Transfer-Encoding is refused (502), not framed", async () => {
  backend.answers.set("/te10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  const r = await ask("GET /te10 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  assert.equal(r.status, 502);
  assert.doesNotMatch(r.text, /hello/);
});

test("gateway parser - a valid 'gzip, chunked' response passes as it is", async () => {
  const body = "3\r\nabc\r\n0\r\n\r\n";
  backend.answers.set(
    "/gz",
    `HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${body}`,
  );
  const r = await ask("GET /gz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  assert.equal(r.status, 200);
  assert.match(r.head, /Transfer-Encoding: gzip, chunked/);
  assert.ok(r.text.endsWith(`\r\n\r\n${body}`), JSON.stringify(r.text));
  // An HTTP/1.0 client cannot be told of the gzip coding (no Transfer-Encoding in 1.0).
  assert.equal((await ask("GET /gz HTTP/1.0\r\n\r\n")).status, 502);
  // Chunked must be last: "chunked, gzip" leaves the end of the body unknown.
  backend.answers.set("/gz-bad", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  assert.equal((await ask("GET /gz-bad HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).status, 502);
});

test("gateway parser - a 101 to a protocol the client did not ask for is refused, not tunnelled", async () => {
  backend.answers.set("/ws-bad", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
  const r = await ask("GET /ws-bad HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  assert.equal(r.status, 502);
  backend.answers.set("/ws-none", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n");
  const none = await ask("GET /ws-none HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  assert.equal(none.status, 502, "a 101 without Upgrade");
  backend.answers.set(
    "/ws-ok",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\r\n",
  );
  const ok = await ask("GET /ws-ok HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  assert.equal(ok.status, 101, "the protocol asked for (case aside) tunnels");
});

test("gateway parser - trailers lose hop-by-hop and RS-* fields, in responses and in requests", async () => {
  backend.answers.set(
    "/trailers",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\n" +
      "X-Sum: 7\r\nConnection: close\r\nRS-Error: RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND\r\nContent-Length: 5\r\nX-Tail: t\r\n\r\n",
  );
  const r = await ask("GET /trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  assert.equal(r.status, 200);
  assert.ok(r.text.endsWith("\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 7\r\nX-Tail: t\r\n\r\n"), JSON.stringify(r.text));
  backend.answers.set("/up", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  const sent = await ask(
    "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      "1\r\na\r\n0\r\nX-Keep: 1\r\nRS-Hop: forged\r\nKeep-Alive: 5\r\n\r\n",
  );
  assert.equal(sent.status, 200);
  const seen = backend.received.find((x) => x.startsWith("POST /up "))!;
  assert.ok(seen.endsWith("1\r\na\r\n0\r\nX-Keep: 1\r\n\r\n"), JSON.stringify(seen));
});

test("gateway parser - a head delivered one byte per write is read in linear time", async () => {
  backend.answers.set("/slow-head", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const fields = Array.from({ length: 90 }, (_, i) => `X-F${i}: ${"v".repeat(120)}\r\n`).join("");
  const head = Buffer.from(`GET /slow-head HTTP/1.1\r\nHost: h\r\n${fields}Connection: close\r\n\r\n`, "latin1");
  assert.ok(head.length > 11_000 && head.length < 16 * 1024);
  const startMs = performance.now();
  const text = await new Promise<string>((resolve, reject) => {
    const s = connect({ ...gw, noDelay: true });
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => got.push(d));
    s.on("close", () => resolve(Buffer.concat(got).toString("latin1")));
    s.on("error", reject);
    s.on("connect", async () => {
      for (let i = 0; i < head.length; i++) {
        // One byte per write, and a turn of the loop between writes, so most reads see one byte.
        s.write(head.subarray(i, i + 1));
        if (i % 16 === 0) await new Promise((r) => setImmediate(r));
      }
    });
  });
  const tookMs = performance.now() - startMs;
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.ok(tookMs < 8_000, `${tookMs.toFixed(0)} ms for ${head.length} writes`);
  const [r] = splitResponses(Buffer.from(text, "latin1"));
  assert.equal(r.body, "ok");
});
