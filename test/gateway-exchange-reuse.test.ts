// A client connection takes its last exchange again for its next request (one object per
// connection, not per request): nothing of one request may reach the next. Shown over one
// kept-alive connection, gateway in this process, a raw backend that answers by path: a
// request whose try failed (a target tried, a failure, a spent attempt) is followed by one
// the same instance serves; a chunked response with an interim 100 is followed by a plain
// one, a POST with a body by a GET, a HEAD by a GET, each framed as its own.
// Addresses: 127.235.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { createLogger, seededRandom } from "../src/core/index.ts";
import { parsePlanet } from "../src/topology/index.ts";
import { Gateway, PlanetInstanceSource } from "../src/traffic/index.ts";

const planet = parsePlanet(
  "name: p\nzone: p.test.\nsites:\n  - { name: p, city: P, lat: 0, lon: 0, subnet: 127.235.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 1 } }\n",
);
const gw = { host: "127.235.2.1", port: 8080 };

/** Answers by path: /reset closes the connection unanswered, others get `answers` or a 200 naming the path. */
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
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.slice(0, end + 4 + length);
        buf = buf.slice(request.length);
        this.received.push(request);
        const path = /^[A-Z]+ (\S+) /.exec(request)?.[1] ?? "";
        if (path === "/reset") {
          s.destroy();
          return;
        }
        const body = `served ${path}`;
        s.write(this.answers.get(path) ?? `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      });
    });
  }
  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(9000, "127.235.4.1", resolve));
  }
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

type Answer = { status: number; head: string; body: string };

/** One kept-alive client connection that sends a request and reads its whole response, then the next. */
class KeptAlive {
  readonly #socket: Socket;
  #buf = "";
  #waiting: ((a: Answer) => void) | null = null;
  #headOnly = false;
  #closed = false;
  constructor() {
    this.#socket = connect(gw);
    this.#socket.on("data", (d: Buffer) => {
      this.#buf += d.toString("latin1");
      this.#check();
    });
    this.#socket.on("close", () => {
      this.#closed = true;
    });
    this.#socket.on("error", () => {});
  }
  get closed(): boolean {
    return this.#closed;
  }
  ask(request: string): Promise<Answer> {
    this.#headOnly = request.startsWith("HEAD ");
    const got = new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no whole response to ${request.split("\r\n")[0]}`)), 5_000);
      this.#waiting = (a) => {
        clearTimeout(timer);
        resolve(a);
      };
    });
    this.#socket.write(request);
    return got;
  }
  #check(): void {
    const end = this.#buf.indexOf("\r\n\r\n");
    if (end < 0 || this.#waiting === null) return;
    const head = this.#buf.slice(0, end);
    const status = Number(head.slice(9, 12));
    let total = end + 4;
    if (status >= 100 && status < 200) {
      // An interim response: the final one follows.
      this.#buf = this.#buf.slice(total);
      this.#check();
      return;
    }
    if (!this.#headOnly) {
      if (/\r\ntransfer-encoding: chunked/i.test(head)) {
        const last = this.#buf.indexOf("\r\n0\r\n\r\n", end);
        if (last < 0) return;
        total = last + 7;
      } else {
        total += Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (this.#buf.length < total) return;
      }
    }
    const body = this.#buf.slice(end + 4, total);
    this.#buf = this.#buf.slice(total);
    const done = this.#waiting;
    this.#waiting = null;
    done({ status, head, body });
  }
  close(): void {
    this.#socket.destroy();
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
    random: seededRandom(35),
    probe: async () => true,
    log: createLogger({}, { level: "error" }),
  });
  await gateway.start();
});
after(async () => {
  await Promise.all([gateway.stop({ fast: true }), backend.close()]);
});

test("gateway exchange reuse - after a failed try, the next request on the connection goes to the same instance", async () => {
  const c = new KeptAlive();
  try {
    const failed = await c.ask("GET /reset HTTP/1.1\r\nHost: h\r\n\r\n");
    // Its only instance was tried and failed, so nothing was left to retry on.
    assert.equal(failed.status, 502);
    assert.doesNotMatch(failed.head, /connection: close/i);
    for (const path of ["/after-1", "/after-2"]) {
      const ok = await c.ask(`GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`);
      assert.equal(ok.status, 200, `${path}: the instance the failed request tried is not excluded`);
      assert.equal(ok.body, `served ${path}`);
    }
    assert.equal((await c.ask("GET /reset HTTP/1.1\r\nHost: h\r\n\r\n")).status, 502, "a new failure is its own");
    assert.equal((await c.ask("GET /after-3 HTTP/1.1\r\nHost: h\r\n\r\n")).status, 200);
    assert.equal(c.closed, false);
  } finally {
    c.close();
  }
});

test("gateway exchange reuse - each response is framed as its own, whatever came before it", async () => {
  backend.answers.set(
    "/chunked",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
  );
  backend.answers.set("/empty", "HTTP/1.1 204 No Content\r\n\r\n");
  const c = new KeptAlive();
  try {
    const chunked = await c.ask("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body, "3\r\nabc\r\n0\r\n\r\n");
    const plain = await c.ask("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(plain.body, "served /plain");
    const post = await c.ask("POST /post HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    assert.equal(post.body, "served /post");
    assert.ok(backend.received.at(-1)?.endsWith("\r\n\r\nhello"), "the body went with its request");
    const get = await c.ask("GET /get HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(get.body, "served /get");
    assert.ok(backend.received.at(-1)?.endsWith("\r\n\r\n"), "no body goes with the next request");
    const head = await c.ask("HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(head.status, 200);
    assert.equal((await c.ask("GET /empty HTTP/1.1\r\nHost: h\r\n\r\n")).status, 204);
    const last = await c.ask("GET /last HTTP/1.1\r\nHost: h\r\n\r\n");
    assert.equal(last.body, "served /last");
    const ids = backend.received.slice(-7).map((r) => /\r\nX-Request-Id: (\S+)\r\n/.exec(r)?.[1]);
    assert.equal(new Set(ids).size, 7, "each request has its own id");
    assert.equal(c.closed, false);
  } finally {
    c.close();
  }
});
