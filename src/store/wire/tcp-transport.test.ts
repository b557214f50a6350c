// TCP transport tests on 127.130.0.0/16 (this file's own range), port 17400.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test } from "node:test";
import { createLogger, isRedshirtError, ManualClock } from "../../core/index.ts";
import { connectTimeoutMs, peerSilenceMsMax, pingIntervalMs } from "../constants.ts";
import { type TransportCluster, transportCompliance } from "../testkit/transport-compliance.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { answerHello, answerReply, dialerHello } from "./handshake.ts";
import { createTcpTransport, type TcpAddress, type TcpTransportInit } from "./tcp-transport.ts";
import type { Transport } from "./transport.ts";

const port = 17400;
const secret = randomBytes(32);
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
      createTcpTransport({ self: id, listen: peers.get(id)!, peers, secret, logger, ...options });
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

/** A hand-driven peer: answers the dialer's hello as `name` (with `peerSecret`) and records what it receives after. */
async function fakePeer(
  address: TcpAddress,
  name: string,
  peerSecret = secret,
): Promise<{ server: Server; bodies: unknown[]; chunks: number[]; sockets: Socket[] }> {
  const bodies: unknown[] = [];
  const chunks: number[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    const decoder = new FrameDecoder();
    let helloDone = false;
    let proofDone = false;
    socket.on("data", (chunk) => {
      if (proofDone) chunks.push(chunk.length);
      decoder.push(chunk, (body) => {
        if (proofDone) bodies.push(body);
        // The fake takes the dialer's proof on trust: the transport's own tests check proofs.
        if (helloDone) {
          proofDone = true;
          return;
        }
        helloDone = true;
        // Proves itself as the node that was dialed, then says it is `name`.
        const to = (body as { to: string }).to;
        const answer = answerHello(peerSecret, to, () => true, randomBytes(16), body);
        if ("failure" in answer) throw new Error(`the transport's hello is malformed: ${answer.text}`);
        socket.write(encodeFrame({ ...answer.reply, from: name }));
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
  return createTcpTransport({ listen: init.peers.get(init.self)!, secret, logger, ...init });
}

/** A raw connection to a transport: what it answers, and whether it closed. */
function rawDial(address: TcpAddress) {
  const socket = connect(address.port, address.host);
  const replies: unknown[] = [];
  const decoder = new FrameDecoder();
  socket.on("data", (chunk) => decoder.push(chunk, (body) => replies.push(body)));
  socket.on("error", () => {});
  const closed = new Promise<"closed">((resolve) => socket.on("close", () => resolve("closed")));
  const closedWithin = (ms: number) =>
    Promise.race([closed, new Promise<"open">((r) => setTimeout(() => r("open"), ms))]);
  return { socket, replies, closedWithin };
}

test("tcp transport - an inbound hello of another version, from an unknown node, for another node or malformed is refused and counted", async () => {
  const peers = addresses(["a", "b"]);
  const b = node({ self: "b", peers });
  await b.start();
  try {
    const attempt = async (bytes: Buffer): Promise<unknown[]> => {
      const raw = rawDial(peers.get("b")!);
      raw.socket.write(bytes);
      const outcome = await raw.closedWithin(2_000);
      raw.socket.destroy();
      assert.equal(outcome, "closed", `refused: ${bytes.toString("hex").slice(0, 80)}`);
      return raw.replies;
    };
    const n = randomBytes(16);
    assert.deepEqual(await attempt(encodeFrame({ v: 1, from: "a", to: "b" })), []);
    assert.deepEqual(await attempt(encodeFrame(dialerHello("stranger", "b", n))), []);
    assert.deepEqual(await attempt(encodeFrame(dialerHello("a", "c", n))), []);
    assert.deepEqual(await attempt(encodeFrame(["a message before any hello"])), []);
    assert.deepEqual(await attempt(Buffer.from([0xff, 0xff, 0xff, 0xff])), []);
    assert.deepEqual(
      await attempt(encodeFrame({ ...dialerHello("a", "b", n), pad: "x".repeat(2_000) })),
      [],
      "a stranger gets 1 kB",
    );
    assert.equal(b.authFailures("version"), 1);
    assert.equal(b.authFailures("unknown-node"), 1);
    assert.equal(b.authFailures("wrong-node"), 1);
    assert.equal(b.authFailures("malformed"), 3);
    assert.ok(logLines.some((l) => l.includes("wire version 1; this node speaks 2")));
  } finally {
    await b.stop();
  }
});

test("tcp transport - a dialer that cannot prove the secret is refused and counted, and cannot push out the real peer's connection", async () => {
  const peers = addresses(["a", "b"]);
  const a = node({ self: "a", peers });
  const b = node({ self: "b", peers });
  const got: unknown[] = [];
  b.onMessage((from, m) => got.push([from, ...m]));
  await Promise.all([a.start(), b.start()]);
  try {
    assert.ok(await waitFor(() => a.isUp("b"), 3_000));
    // Says it is a: the hello is answered with b's proof (which checks out), then a wrong proof.
    const nD = randomBytes(16);
    const raw = rawDial(peers.get("b")!);
    raw.socket.write(encodeFrame(dialerHello("a", "b", nD)));
    assert.ok(await waitFor(() => raw.replies.length === 1, 2_000));
    assert.ok(!("failure" in answerReply(secret, "a", "b", nD, raw.replies[0])), "b proves itself");
    raw.socket.write(encodeFrame({ proof: "ab".repeat(32) }));
    raw.socket.write(encodeFrame(["injected", "repair"]));
    assert.equal(await raw.closedWithin(2_000), "closed");
    assert.equal(b.authFailures("bad-proof"), 1);
    // A message sent in place of the proof is refused as well, and never delivered.
    const early = rawDial(peers.get("b")!);
    early.socket.write(encodeFrame(dialerHello("a", "b", randomBytes(16))));
    early.socket.write(encodeFrame(["injected", "hint"]));
    assert.equal(await early.closedWithin(2_000), "closed");
    assert.equal(b.authFailures("malformed"), 1);
    // a's own connection was never touched.
    assert.ok(a.send("b", ["still", "here"]));
    assert.ok(await waitFor(() => got.length === 1, 2_000));
    assert.deepEqual(got, [["a", "still", "here"]]);
    assert.ok(a.isUp("b"));
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test("tcp transport - a dialer that proves the secret gets pongs; one that stops after its hello is cut at the dial timeout", async () => {
  const peers = addresses(["a", "b"]);
  const clock = new ManualClock();
  const b = node({ self: "b", peers, clock });
  await b.start();
  try {
    const nD = randomBytes(16);
    const good = rawDial(peers.get("b")!);
    good.socket.write(encodeFrame(dialerHello("a", "b", nD)));
    assert.ok(await waitFor(() => good.replies.length === 1, 2_000));
    const answered = answerReply(secret, "a", "b", nD, good.replies[0]);
    assert.ok(!("failure" in answered));
    good.socket.write(Buffer.concat([encodeFrame(answered.proof), encodeFrame({ ping: 7 })]));
    assert.ok(await waitFor(() => good.replies.length === 2, 2_000));
    assert.deepEqual(good.replies[1], { pong: 7 });
    const stalled = rawDial(peers.get("b")!);
    stalled.socket.write(encodeFrame(dialerHello("a", "b", randomBytes(16))));
    assert.ok(await waitFor(() => stalled.replies.length === 1, 2_000));
    for (let ms = 0; ms <= connectTimeoutMs; ms += pingIntervalMs) clock.advance(pingIntervalMs);
    assert.equal(await stalled.closedWithin(2_000), "closed");
    assert.equal(b.authFailures("timeout"), 1);
    good.socket.destroy();
  } finally {
    await b.stop();
  }
});

test("tcp transport - nodes with different secrets never see each other up, count it on both sides, and log each address once", async () => {
  const peers = addresses(["a", "b"]);
  const a = node({ self: "a", peers });
  const b = node({ self: "b", peers, secret: randomBytes(32) });
  const changes: unknown[] = [];
  a.onPeerChange((p, up) => changes.push([p, up]));
  b.onPeerChange((p, up) => changes.push([p, up]));
  const linesBefore = logLines.length;
  await Promise.all([a.start(), b.start()]);
  try {
    assert.ok(
      await waitFor(() => a.authFailures("bad-proof") >= 3 && b.authFailures("bad-proof") >= 3, 5_000),
      "both keep dialing and refusing",
    );
    assert.deepEqual(changes, []);
    assert.equal(a.send("b", ["x"]) && a.isUp("b"), false);
    const refusals = logLines.slice(linesBefore).filter((l) => l.includes("RS_ERR_STORE_PEER_AUTH"));
    // a logs b's address once as a dialer and once as the acceptor of b's dials; b likewise.
    assert.ok(refusals.length <= 4, `${refusals.length} log lines for ${a.authFailures("bad-proof")}+ refusals`);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
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
    assert.ok(await waitFor(() => fake.bodies.length === 200, 3_000));
    assert.deepEqual((fake.bodies[199] as unknown[])[1], 199);
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

test("tcp transport - a peer past the handshake that sends a corrupt or unexpected frame is counted and cut, inbound and outbound", async () => {
  const peers = addresses(["a", "b"]);
  const b = node({ self: "b", peers });
  await b.start();
  const cAddress = addresses(["c"]).get("c")!;
  const fake = await fakePeer(cAddress, "c");
  const a = node({
    self: "a",
    peers: new Map([
      ["a", peers.get("a")!],
      ["c", cAddress],
    ]),
  });
  try {
    // Inbound: a dialer that proved the secret, then an unexpected frame, then bytes that are not msgpack.
    for (const bad of [encodeFrame({ bogus: 1 }), Buffer.from([0, 0, 0, 1, 0xc1])]) {
      const nD = randomBytes(16);
      const dialer = rawDial(peers.get("b")!);
      dialer.socket.write(encodeFrame(dialerHello("a", "b", nD)));
      assert.ok(await waitFor(() => dialer.replies.length === 1, 2_000));
      const answered = answerReply(secret, "a", "b", nD, dialer.replies[0]);
      assert.ok(!("failure" in answered));
      dialer.socket.write(encodeFrame(answered.proof));
      dialer.socket.write(bad);
      assert.equal(await dialer.closedWithin(2_000), "closed");
    }
    assert.equal(b.frameErrors(), 2);
    // Outbound: the dialed peer answers the handshake, then sends something that is not a pong.
    await a.start();
    assert.ok(await waitFor(() => a.isUp("c"), 3_000));
    const first = fake.sockets[0];
    first.write(encodeFrame({ nope: true }));
    assert.ok(await waitFor(() => a.frameErrors() === 1, 2_000), "counted on the dialing side");
    assert.ok(await waitFor(() => first.closed, 2_000), "the dialer closed the connection");
    assert.equal(a.authFailures("malformed"), 0, "not a handshake failure");
  } finally {
    await a.stop();
    await b.stop();
    await closeFake(fake);
  }
});

test("tcp transport - a peer may be up until its first connection fails, then is known down until it is up again", async () => {
  const peers = addresses(["a", "b"]);
  const a = node({ self: "a", peers });
  let b: Transport | undefined;
  try {
    // Before its first dial settles, b is not known down: a just-started node must not refuse writes for it.
    assert.equal(a.mayBeUp("b"), true);
    assert.equal(a.isUp("b"), false);
    await a.start();
    // Nobody listens at b's address: the dial is refused, and from then on b is known down.
    assert.ok(await waitFor(() => !a.mayBeUp("b"), 3_000), "a refused dial marks b down");
    assert.equal(a.mayBeUp("nobody"), false, "an unknown node is never up");
    b = node({ self: "b", peers });
    await b.start();
    assert.ok(await waitFor(() => a.isUp("b"), 5_000), "a redials b once it listens");
    assert.equal(a.mayBeUp("b"), true);
  } finally {
    await a.stop();
    await b?.stop();
  }
});
