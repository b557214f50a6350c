// The binary client protocol, negotiated on the HTTP port of a real server on loopback, in
// front of a real one-node engine (test/support/engine-api.ts). These tests prove
// the protocol layer: many requests in flight on one connection matched by id, ack-only
// replies, typed errors with definite/indefinite, HTTP still served on the same port, and
// garbage bytes answered with a clear error and a closed connection, never a crash.
// Addresses: 127.146.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { request as httpRequest } from "undici";
import { type EngineFront, type RealEngine, startRealEngine } from "../../../test/support/engine-api.ts";
import { createLogger } from "../../core/index.ts";
import { validatePlanet } from "../../topology/index.ts";
import { storeErrors } from "../errors.ts";
import { decodeBody, encodeFrame, FrameDecoder } from "../index.ts";
import { BinaryConnection } from "./binary-client.ts";
import { binaryPreface } from "./binary-protocol.ts";
import { createStoreHttpServer, type StoreHttpServer } from "./http-api.ts";

const host = "127.146.1.1";
const secret = randomBytes(32);
const planet = validatePlanet({
  name: "bintest",
  zone: "bintest.test.",
  sites: [{ name: "a", city: "A", lat: 0, lon: 0, subnet: "127.146.0.0/16" }],
});
const logLines: string[] = [];
let engine: RealEngine;
let api: EngineFront;
let server: StoreHttpServer;
let port: number;

before(async () => {
  engine = await startRealEngine({ subnet: "127.146.0.0/16", site: "a" });
  api = engine.front("a-store1");
  const logger = createLogger({}, { write: (line) => logLines.push(line), level: "warn" });
  server = createStoreHttpServer(api, { host, port: 0, logger, nodeId: "a-store1", planet, secret });
  await server.start();
  port = server.address.port;
});

after(async () => {
  await server?.stop();
  await engine?.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary replies
type AnyReply = { i: number; s: number; b: any; t?: string; o?: string };

/** A raw connection: writes bytes, collects the frames that come back and whether it closed. */
async function rawConnection(to = port): Promise<{
  socket: Socket;
  replies: AnyReply[];
  prefaceBack: () => boolean;
  closed: Promise<void>;
}> {
  const socket = connect({ host, port: to });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const replies: AnyReply[] = [];
  const decoder = new FrameDecoder();
  let head = Buffer.alloc(0);
  let prefaced = false;
  socket.on("data", (chunk: Buffer) => {
    if (!prefaced) {
      head = Buffer.concat([head, chunk]);
      if (head.length < binaryPreface.length) return;
      prefaced = true;
      // A refused preface is answered with the refusal frame alone.
      chunk = head.subarray(0, binaryPreface.length).equals(binaryPreface) ? head.subarray(binaryPreface.length) : head;
    }
    decoder.push(chunk, (frame) => replies.push(frame as AnyReply));
  });
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return { socket, replies, prefaceBack: () => prefaced, closed };
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary replies
const errorOf = (r: { b: unknown }): any => (r.b as AnyReply["b"]).error;

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe("store binary protocol", () => {
  test("store binary - 500 writes in flight on one connection are answered, each matched to its own id", async () => {
    const conn = new BinaryConnection(host, port);
    try {
      const n = 500;
      const writes = Array.from({ length: n }, (_, k) =>
        conn.request({ m: "PUT", k: `pipelined-${k}`, b: JSON.stringify({ value: k }), o: `op-${k}` }, 5_000),
      );
      assert.ok(conn.inflight > 1, "many requests were in flight at once");
      const replies = await Promise.all(writes);
      replies.forEach((r, k) => {
        assert.equal(r.s, 200);
        assert.equal(r.b.key, `pipelined-${k}`);
        assert.equal(r.b.value, k);
        assert.equal(r.o, `op-${k}`);
        assert.equal(typeof r.t, "string", "a signed session token comes back");
      });
      const reads = await Promise.all(
        Array.from({ length: n }, (_, k) => conn.request({ m: "GET", k: `pipelined-${k}` }, 5_000)),
      );
      reads.forEach((r, k) => {
        assert.deepEqual([r.s, r.b.value], [200, k]);
      });
    } finally {
      conn.close();
    }
  });

  test("store binary - an ack-only write comes back without the value; a normal one with it", async () => {
    const conn = new BinaryConnection(host, port);
    try {
      const big = "v".repeat(10_000);
      const ack = await conn.request(
        { m: "PUT", k: "acked", b: JSON.stringify({ value: big }), o: "ack-1", ack: true },
        5_000,
      );
      assert.equal(ack.s, 200);
      assert.deepEqual(ack.b, { key: "acked", exists: true, duplicate: false });
      const full = await conn.request(
        { m: "POST", k: "counted", a: "incr", b: JSON.stringify({ by: 5 }), o: "incr-1" },
        5_000,
      );
      assert.deepEqual(full.b, { key: "counted", exists: true, type: "counter", value: 5, duplicate: false });
      const again = await conn.request(
        { m: "POST", k: "counted", a: "incr", b: JSON.stringify({ by: 5 }), o: "incr-1" },
        5_000,
      );
      assert.equal(again.b.duplicate, true, "the same op id applies once");
      assert.equal(again.b.value, 5);
    } finally {
      conn.close();
    }
  });

  test("store binary - errors are typed like the HTTP API's, with the code and whether the failure is definite", async () => {
    const conn = new BinaryConnection(host, port);
    try {
      const missing = await conn.request({ m: "GET", k: "never-written" }, 5_000);
      assert.equal(missing.s, 404);
      assert.equal(errorOf(missing).code, "RS_ERR_STORE_NOT_FOUND");
      const badLevel = await conn.request({ m: "GET", k: "x", c: "most" }, 5_000);
      assert.equal(badLevel.s, 400);
      assert.equal(errorOf(badLevel).code, "RS_ERR_STORE_BAD_CONSISTENCY");
      assert.equal(errorOf(badLevel).definite, true);
      const badBody = await conn.request({ m: "PUT", k: "x", b: "{not json" }, 5_000);
      assert.equal(errorOf(badBody).code, "RS_ERR_STORE_BAD_REQUEST");
      assert.match(errorOf(badBody).message, /not valid JSON/);
      const badAction = await conn.request({ m: "POST", k: "x", a: "explode", b: "{}" }, 5_000);
      assert.equal(errorOf(badAction).code, "RS_ERR_STORE_NO_ROUTE");
      const tooLong = await conn.request({ m: "GET", k: "k".repeat(2_000) }, 5_000);
      assert.equal(errorOf(tooLong).code, "RS_ERR_STORE_KEY_TOO_LARGE");
      const forged = await conn.request({ m: "GET", k: "x", t: "eyJmb3JnZWQiOlsxLCJ4Il19" }, 5_000);
      assert.equal(errorOf(forged).code, "RS_ERR_STORE_BAD_SESSION");
      api.failWith = () => storeErrors.create("RS_ERR_STORE_CONSISTENCY", "local-quorum not met");
      try {
        const timedOut = await conn.request({ m: "PUT", k: "x", b: JSON.stringify({ value: 1 }), o: "late-1" }, 5_000);
        assert.equal(timedOut.s, 503);
        assert.equal(errorOf(timedOut).code, "RS_ERR_STORE_CONSISTENCY");
        assert.equal(errorOf(timedOut).definite, false, "a level not met may still apply: indefinite");
      } finally {
        api.failWith = undefined;
      }
    } finally {
      conn.close();
    }
  });

  test("store binary - HTTP/1.1 is still served on the same port, beside binary connections", async () => {
    const conn = new BinaryConnection(host, port);
    try {
      const put = await conn.request({ m: "PUT", k: "both", b: JSON.stringify({ value: "hi" }), o: "both-1" }, 5_000);
      assert.equal(put.s, 200);
      const res = await httpRequest(`http://${host}:${port}/v1/kv/both`);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(((await res.body.json()) as { value: unknown }).value, "hi");
    } finally {
      conn.close();
    }
  });

  test("store binary - a readable frame of the wrong shape is answered under its id and the connection stays up", async () => {
    const c = await rawConnection();
    try {
      c.socket.write(
        Buffer.concat([
          binaryPreface,
          encodeFrame({ i: 7, m: "GET", k: "x", zz: 1 }),
          encodeFrame({ i: 8, m: "FETCH", k: "x" }),
        ]),
      );
      await until(() => c.replies.length === 2, "two replies");
      assert.deepEqual(
        c.replies.map((r) => [r.i, r.s, r.b.error.code]),
        [
          [7, 400, "RS_ERR_STORE_BAD_REQUEST"],
          [8, 400, "RS_ERR_STORE_BAD_REQUEST"],
        ],
      );
      assert.match(c.replies[0].b.error.message, /"zz": unknown field/);
      c.socket.write(encodeFrame({ i: 9, m: "GET", k: "never" }));
      await until(() => c.replies.length === 3, "a third reply");
      assert.equal(c.replies[2].s, 404);
    } finally {
      c.socket.destroy();
    }
  });

  test("store binary - garbage bytes get a clear error (id 0) and a closed connection; the server serves on", async () => {
    const cases: Buffer[] = [
      Buffer.concat([binaryPreface, Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3])]), // announces 4 GiB
      Buffer.concat([binaryPreface, Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])]), // not msgpack
      Buffer.concat([binaryPreface, encodeFrame([1, 2, 3])]), // not a map
      Buffer.concat([binaryPreface, encodeFrame({ m: "GET", k: "x" })]), // no id
      Buffer.from([0x00, 0x52, 0x53, 0x42, 0x09]), // another version
    ];
    for (const bytes of cases) {
      const c = await rawConnection();
      c.socket.write(bytes);
      await c.closed;
      const last = c.replies.at(-1);
      assert.ok(last, `a reply names the problem for ${bytes.toString("hex").slice(0, 40)}`);
      assert.equal(last.i, 0);
      assert.equal(last.b.error.code, "RS_ERR_STORE_BAD_REQUEST");
      assert.match(last.b.error.message, /not a valid binary frame/);
    }
    const metrics = await httpRequest(`http://${host}:${port}/metrics`);
    const text = await metrics.body.text();
    assert.match(text, /rs_store_binary_protocol_errors_total\{reason="frame"\} 2/);
    assert.match(text, /rs_store_binary_protocol_errors_total\{reason="preface"\} 1/);
    const conn = new BinaryConnection(host, port);
    try {
      assert.equal((await conn.request({ m: "GET", k: "never" }, 5_000)).s, 404);
    } finally {
      conn.close();
    }
  });

  test("store binary fuzz - random bytes after the preface never crash the server nor get a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.boolean(), async (garbage, framed) => {
        const c = await rawConnection();
        const body = Buffer.from(garbage);
        const payload = framed ? Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]) : body;
        c.socket.write(Buffer.concat([binaryPreface, payload]));
        await Promise.race([c.closed, new Promise((r) => setTimeout(r, 50))]);
        for (const r of c.replies) assert.ok(r.s < 500, `no 5xx: ${JSON.stringify(r).slice(0, 200)}`);
        c.socket.destroy();
      }),
      { numRuns: 150, seed: 13 },
    );
    const conn = new BinaryConnection(host, port);
    try {
      assert.equal((await conn.request({ m: "GET", k: "never" }, 5_000)).s, 404);
    } finally {
      conn.close();
    }
  });

  test("store binary - a client facing an HTTP-only node learns that nothing was taken (RS_BINARY_UNSUPPORTED)", async () => {
    const { createServer } = await import("node:http");
    const old = createServer((_req, res) => res.end("old"));
    await new Promise<void>((r) => old.listen(0, host, r));
    const conn = new BinaryConnection(host, (old.address() as { port: number }).port);
    try {
      await assert.rejects(conn.request({ m: "GET", k: "x" }, 5_000), { code: "RS_BINARY_UNSUPPORTED" });
    } finally {
      conn.close();
      old.closeAllConnections();
      await new Promise((r) => old.close(r));
    }
  });

  test("store binary - a stopping node answers what is in flight, refuses new requests, then closes the connection", async () => {
    const fake = engine.front("a-store2");
    const logger = createLogger({}, { write: () => undefined, level: "error" });
    const own = createStoreHttpServer(fake, { host, port: 0, logger, nodeId: "a-store2", planet, secret });
    await own.start();
    const c = await rawConnection(own.address.port);
    try {
      let release = (): void => undefined;
      fake.hold = new Promise<void>((r) => {
        release = r;
      });
      c.socket.write(
        Buffer.concat([binaryPreface, encodeFrame({ i: 1, m: "PUT", k: "slow", b: '{"value":1}', o: "s-1" })]),
      );
      await until(() => fake.mutations.length === 1, "the write to reach the engine");
      const stopped = own.stop();
      c.socket.write(encodeFrame({ i: 2, m: "GET", k: "slow" }));
      await until(() => c.replies.length === 1, "the refusal of the request sent after stop");
      assert.deepEqual([c.replies[0].i, c.replies[0].b.error.code], [2, "RS_ERR_STORE_SHUTTING_DOWN"]);
      assert.equal(c.replies[0].b.error.definite, true);
      release();
      await c.closed;
      assert.deepEqual(
        c.replies.map((r) => [r.i, r.s]),
        [
          [2, 503],
          [1, 200],
        ],
      );
      await stopped;
    } finally {
      c.socket.destroy();
      await own.stop();
    }
  });

  test("store binary - the node's log names refused streams, and decodeBody reads what encodeFrame wrote", () => {
    assert.ok(logLines.some((l) => l.includes("binary client connection closed: bad frame")));
    assert.deepEqual(decodeBody(encodeFrame({ i: 1 }).subarray(4)), { i: 1 });
  });
});
