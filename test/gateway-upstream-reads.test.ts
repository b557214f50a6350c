// The gateway reads each upstream connection into one buffer it reuses, read after read:
// these tests show over real sockets, with the gateway in this process and a raw backend,
// that no byte is lost or overwritten when a response head arrives in pieces, and when a
// large body goes to a client that reads slowly (its writes pend and keep views of the
// buffer), and when many small responses whose heads the gateway rewrites go, each joined
// to its body in the client connection's one join buffer, to a client that reads slowly.
// Bodies are patterned, so a byte from the wrong read shows.
// Addresses: 127.249.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger, seededRandom } from "../src/core/index.ts";
import { parsePlanet } from "../src/topology/index.ts";
import { Gateway, PlanetInstanceSource } from "../src/traffic/index.ts";
import { sleep, splitResponses } from "./support/gateway-cluster.ts";

const planet = parsePlanet(
  "name: u\nzone: u.test.\nsites:\n  - { name: u, city: U, lat: 0, lon: 0, subnet: 127.249.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 1 } }\n",
);
const gw = { host: "127.249.2.1", port: 8080 };

/** Bytes whose value depends on their offset (and a seed), so misplaced bytes are caught. */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return b;
}

/** How each path is answered: the pieces to write, with a turn of the event loop between them. */
const answers = new Map<string, Buffer[]>();
/** Paths whose answer ends when the backend closes the connection (a close-delimited body). */
const closeAfter = new Set<string>();
const sockets = new Set<Socket>();
const server: Server = createServer((s) => {
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
  s.on("error", () => {});
  let buf = "";
  s.on("data", async (d: Buffer) => {
    buf += d.toString("latin1");
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    const path = /^[A-Z]+ (\S+) /.exec(buf)?.[1] ?? "";
    buf = buf.slice(end + 4);
    for (const piece of answers.get(path) ?? [Buffer.from("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")]) {
      s.write(piece);
      await new Promise((r) => setImmediate(r));
    }
    if (closeAfter.has(path)) s.end();
  });
});
let gateway: Gateway;

before(async () => {
  await new Promise<void>((resolve) => server.listen(9000, "127.249.4.1", resolve));
  gateway = new Gateway({
    planet,
    site: "u",
    source: new PlanetInstanceSource(planet, "u"),
    leaveDnsMs: 0,
    random: seededRandom(3),
    probe: async () => true,
    log: createLogger({}, { level: "error" }),
  });
  await gateway.start();
});
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([gateway.stop({ fast: true }), new Promise((r) => server.close(r))]);
});

/** Sends `request` on one connection; reads `pauseEveryBytes` at a time with `pauseMs` rests, until the gateway closes. */
function exchange(request: string, pauseEveryBytes = Number.POSITIVE_INFINITY, pauseMs = 0): Promise<Buffer> {
  const slow = pauseEveryBytes !== Number.POSITIVE_INFINITY;
  return new Promise((resolve, reject) => {
    const got: Buffer[] = [];
    let sinceRest = 0;
    const s = connect(gw);
    s.on("data", (d: Buffer) => {
      got.push(d);
      sinceRest += d.length;
      if (sinceRest >= pauseEveryBytes) {
        sinceRest = 0;
        s.pause();
        setTimeout(() => s.resume(), pauseMs);
      }
    });
    s.on("close", () => resolve(Buffer.concat(got)));
    s.on("error", reject);
    s.write(request);
    if (slow) {
      // Reads nothing at first: the socket buffers fill and the gateway's writes pend.
      s.pause();
      setTimeout(() => s.resume(), 300);
    }
  });
}

test("gateway upstream reads - a response head and body that arrive a few bytes per read are forwarded intact", async () => {
  const body = pattern(3000, 1);
  const head = Buffer.from(`HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(400)}\r\nContent-Length: ${body.length}\r\n\r\n`);
  const whole = Buffer.concat([head, body]);
  const pieces: Buffer[] = [];
  for (let i = 0; i < whole.length; i += 7) pieces.push(whole.subarray(i, i + 7));
  answers.set("/pieces", pieces);
  // Twice on one client connection, so the second answer comes over the reused upstream connection.
  const bytes = await exchange(
    "GET /pieces HTTP/1.1\r\nHost: u\r\n\r\nGET /pieces HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n",
  );
  const rs = splitResponses(bytes);
  assert.equal(rs.length, 2);
  for (const r of rs) {
    assert.equal(r.status, 200);
    assert.equal(Buffer.from(r.body, "latin1").equals(body), true, "the body arrives byte for byte");
  }
});

test("gateway upstream reads - a large body to a client that reads slowly arrives byte for byte, by length and chunked", async () => {
  const size = 8 * 1024 * 1024 + 123;
  const body = pattern(size, 2);
  // Written in small pieces, so the gateway's reads are small and many of its writes pend
  // while its socket to the client still takes more.
  const pieces: Buffer[] = [Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`)];
  for (let i = 0; i < size; i += 5000) pieces.push(body.subarray(i, i + 5000));
  answers.set("/big", pieces);
  const chunks: Buffer[] = [Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")];
  for (let i = 0; i < size; i += 3000) {
    const part = body.subarray(i, i + 3000);
    chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from("0\r\n\r\n"));
  answers.set("/big-chunked", chunks);
  const plain = await exchange("GET /big HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n", 64 * 1024, 2);
  const plainBody = plain.subarray(plain.indexOf("\r\n\r\n") + 4);
  assert.equal(plainBody.length, size);
  assert.equal(plainBody.equals(body), true, "the Content-Length body arrives byte for byte");
  const chunked = await exchange("GET /big-chunked HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n", 64 * 1024, 2);
  const framed = chunked.subarray(chunked.indexOf("\r\n\r\n") + 4);
  const expected = Buffer.concat(chunks.slice(1));
  assert.equal(framed.length, expected.length);
  assert.equal(framed.equals(expected), true, "the chunked body arrives byte for byte, framing and all");
  await sleep(10);
});

test("gateway upstream reads - a body that ends when the app closes arrives whole, and so does the client's connection", async () => {
  const body = pattern(200_000, 3);
  const pieces: Buffer[] = [Buffer.from("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")];
  for (let i = 0; i < body.length; i += 9000) pieces.push(body.subarray(i, i + 9000));
  answers.set("/until-close", pieces);
  closeAfter.add("/until-close");
  const bytes = await exchange("GET /until-close HTTP/1.1\r\nHost: u\r\n\r\n");
  assert.match(bytes.toString("latin1", 0, 40), /^HTTP\/1\.1 200 /);
  const got = bytes.subarray(bytes.indexOf("\r\n\r\n") + 4);
  assert.equal(got.length, body.length);
  assert.equal(got.equals(body), true, "the close-delimited body arrives byte for byte");
});

test("gateway upstream reads - rewritten heads joined to their bodies reach a slow client each as it was sent", async () => {
  // node:http's head: Connection and Keep-Alive are rewritten, so each head and its body go
  // out as one joined write; a client that reads nothing at first makes those writes pend.
  // More than the loopback's socket buffers hold, so that some writes pend.
  const n = 1500;
  const bodies: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const body = pattern(15_000, 100 + i);
    bodies.push(body);
    const head = `HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nContent-Length: ${body.length}\r\n\r\n`;
    answers.set(`/j${i}`, [Buffer.concat([Buffer.from(head), body])]);
  }
  let requests = "";
  for (let i = 0; i < n; i++) {
    requests += `GET /j${i} HTTP/1.1\r\nHost: u\r\n${i === n - 1 ? "Connection: close\r\n" : ""}\r\n`;
  }
  const rs = splitResponses(await exchange(requests, 64 * 1024, 2));
  assert.equal(rs.length, n);
  for (let i = 0; i < n; i++) {
    assert.equal(rs[i].status, 200);
    assert.doesNotMatch(rs[i].head, /keep-alive/i, "the head was rewritten");
    assert.equal(Buffer.from(rs[i].body, "latin1").equals(bodies[i]), true, `response ${i} arrives as it was sent`);
  }
});
