// TCP transport tests on 127.130.0.0/16 (this file's own range), port 17400.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { createLogger, isRedshirtError, ManualClock } from "../../core/index.ts";
import { peerSilenceMsMax, pingIntervalMs } from "../constants.ts";
import { type TransportCluster, transportCompliance } from "../testkit/transport-compliance.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { createTcpTransport, type TcpAddress, type TcpTransportInit } from "./tcp-transport.ts";
import type { Transport } from "./transport.ts";

const port = 17400;
const logLines: string[] = [];
const logger = createLogger({}, { level: "debug", write: (line) => logLines.push(line) });
let subnet = 0;

async function waitFor(cond: () => boolean, budgetMs: number): Promise<boolean> {
  const endMs = performance.now() + budgetMs;
  while (!cond()) {
    if (performance.now() > endMs) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
}

function addresses(ids: readonly string[]): Map<string, TcpAddress> {
  const octet = ++subnet;
  return new Map(ids.map((id, i) => [id, { host: `127.130.${octet}.${i + 1}`, port }]));
}

transportCompliance("tcp transport", {
  async create(ids, options) {
    const peers = addresses(ids);
    const make = (id: string): Transport =>
      createTcpTransport({ self: id, listen: peers.get(id)!, peers, logger, ...options });
    const transports = new Map(ids.map((id) => [id, make(id)]));
    const cluster: TransportCluster = {
      transport: (id) => transports.get(id)!,
      async recreate(id) {
        await transports.get(id)!.stop();
        const t = make(id);
        transports.set(id, t);
        return t;
      },
      waitFor,
      async close() {
        await Promise.all([...transports.values()].map((t) => t.stop()));
      },
    };
    return cluster;
  },
});

/** A hand-driven peer: answers the dialer's hello as `name` and records what it receives. */
async function fakePeer(
  address: TcpAddress,
  name: string,
): Promise<{ server: Server; bodies: unknown[]; chunks: number[]; sockets: Socket[] }> {
  const bodies: unknown[] = [];
  const chunks: number[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const decoder = new FrameDecoder();
    let helloDone = false;
    socket.on("data", (chunk) => {
      if (helloDone) chunks.push(chunk.length);
      decoder.push(chunk, (body) => {
        bodies.push(body);
        if (!helloDone) {
          helloDone = true;
          socket.write(encodeFrame({ v: 1, from: name }));
        }
      });
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(address.port, address.host, resolve));
  return { server, bodies, chunks, sockets };
}

async function closeFake(fake: { server: Server; sockets: Socket[] }): Promise<void> {
  for (const s of fake.sockets) s.destroy();
  await new Promise((resolve) => fake.server.close(resolve));
}

function node(init: Partial<TcpTransportInit> & { peers: Map<string, TcpAddress>; self: string }) {
  return createTcpTransport({ listen: init.peers.get(init.self)!, logger, ...init });
}

test("tcp transport - an inbound hello of another version, from an unknown node or for another node is refused", async () => {
  const peers = addresses(["a", "b"]);
  const b = node({ self: "b", peers });
  await b.start();
  try {
    const attempt = async (bytes: Buffer): Promise<unknown[]> => {
      const socket = connect(peers.get("b")!.port, peers.get("b")!.host);
      const replies: unknown[] = [];
      const decoder = new FrameDecoder();
      socket.on("data", (chunk) => decoder.push(chunk, (body) => replies.push(body)));
      socket.on("error", () => {});
      socket.write(bytes);
      const closed = new Promise((resolve) => socket.on("close", resolve));
      const outcome = await Promise.race([
        closed.then(() => "closed"),
        new Promise((r) => setTimeout(() => r("open"), 2_000)),
      ]);
      socket.destroy();
      assert.equal(outcome, "closed", `refused: ${bytes.toString("hex")}`);
      return replies;
    };
    assert.deepEqual(await attempt(encodeFrame({ v: 2, from: "a" })), []);
    assert.deepEqual(await attempt(encodeFrame({ v: 1, from: "stranger" })), []);
    assert.deepEqual(await attempt(encodeFrame({ v: 1, from: "a", to: "c" })), []);
    assert.deepEqual(await attempt(encodeFrame(["a message before any hello"])), []);
    assert.deepEqual(await attempt(Buffer.from([0xff, 0xff, 0xff, 0xff])), []);
    assert.deepEqual(
      await attempt(encodeFrame({ v: 1, from: "a", pad: "x".repeat(2_000) })),
      [],
      "a stranger gets 1 kB",
    );
    assert.ok(logLines.some((l) => l.includes("wire version 2")));
    // The right hello is answered, and the connection stays open.
    const socket = connect(peers.get("b")!.port, peers.get("b")!.host);
    const replies: unknown[] = [];
    const decoder = new FrameDecoder();
    socket.on("data", (chunk) => decoder.push(chunk, (body) => replies.push(body)));
    socket.write(encodeFrame({ v: 1, from: "a", to: "b" }));
    assert.ok(await waitFor(() => replies.length === 1, 2_000));
    assert.deepEqual(replies[0], { v: 1, from: "b" });
    socket.destroy();
  } finally {
    await b.stop();
  }
});

test("tcp transport - an address that answers as another node never counts as up, and is retried", async () => {
  const peers = addresses(["a", "b"]);
  const fake = await fakePeer(peers.get("b")!, "imposter");
  const a = node({ self: "a", peers });
  try {
    await a.start();
    assert.ok(await waitFor(() => fake.sockets.length >= 3, 3_000), "a keeps dialing, backing off");
    assert.equal(a.isUp("b"), false);
    assert.equal(a.send("b", ["x"]) && a.isUp("b"), false);
  } finally {
    await a.stop();
    await closeFake(fake);
  }
});

test("tcp transport - frames sent in one turn leave in one write", async () => {
  const peers = addresses(["a", "b"]);
  const fake = await fakePeer(peers.get("b")!, "b");
  const a = node({ self: "a", peers });
  try {
    await a.start();
    assert.ok(await waitFor(() => a.isUp("b"), 3_000));
    for (let i = 0; i < 200; i++) assert.ok(a.send("b", ["op", i, "k".repeat(20)]));
    assert.ok(await waitFor(() => fake.bodies.length === 201, 3_000));
    assert.deepEqual((fake.bodies[200] as unknown[])[1], 199);
    assert.ok(fake.chunks.length <= 2, `200 frames arrived in ${fake.chunks.length} reads`);
  } finally {
    await a.stop();
    await closeFake(fake);
  }
});

test("tcp transport - a peer that stops answering pings is declared down after the silence bound", async () => {
  const peers = addresses(["a", "b"]);
  const fake = await fakePeer(peers.get("b")!, "b");
  const clock = new ManualClock();
  const a = node({ self: "a", peers, clock });
  const changes: boolean[] = [];
  a.onPeerChange((_p, up) => changes.push(up));
  try {
    await a.start();
    assert.ok(await waitFor(() => a.isUp("b"), 3_000));
    clock.advance(pingIntervalMs);
    const pinged = () => fake.bodies.some((b) => typeof (b as { ping?: number }).ping === "number");
    assert.ok(await waitFor(pinged, 2_000), "a ping was sent");
    assert.ok(a.isUp("b"), "one unanswered ping is not silence yet");
    for (let ms = pingIntervalMs; ms <= peerSilenceMsMax; ms += pingIntervalMs) clock.advance(pingIntervalMs);
    clock.advance(pingIntervalMs);
    assert.deepEqual(changes, [true, false]);
  } finally {
    await a.stop();
    await closeFake(fake);
  }
});

test("tcp transport - listening on a taken address fails with RS_ERR_STORE_LISTEN, and start can be retried", async () => {
  const peers = addresses(["a", "b"]);
  const first = node({ self: "a", peers });
  const second = node({ self: "a", peers });
  await first.start();
  try {
    await assert.rejects(second.start(), (err) => isRedshirtError(err, "RS_ERR_STORE_LISTEN"));
    await first.stop();
    await second.start();
    assert.ok(second.address()?.host === peers.get("a")!.host);
  } finally {
    await first.stop();
    await second.stop();
  }
});
