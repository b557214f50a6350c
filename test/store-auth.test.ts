// The planet secret guards the store, with real processes: a 3-node cluster refuses every
// node-to-node connection that cannot prove the secret — a hello without it, one with
// another secret, a valid handshake recorded and replayed — counts and logs each refusal,
// and keeps replicating; and its HTTP API refuses altered or forged session tokens while a
// valid one still gives read-your-writes across nodes.
// Addresses: 127.155.0.0/16 belongs to this file (the attacker dials from 127.155.9.9).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { request } from "undici";
import {
  answerReply,
  dialerHello,
  dialerProof,
  encodeFrame,
  encodeSessionToken,
  FrameDecoder,
  storeConstants,
} from "../src/store/index.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const attacker = "127.155.9.9";
const cluster = new StoreCluster({ sites: [{ name: "auth", octet: 155, lat: 0, lon: 0 }], partitions: 8 });
const nodes = cluster.planet.storeNodes;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(() => cluster.startAll());
after(() => cluster[Symbol.asyncDispose]());

/** The node's redshirt_store_peer_auth_failures_total series, as `reason/side` -> count. */
async function authFailures(nodeId: string): Promise<Map<string, number>> {
  const text = await (await request(`${cluster.url(nodeId)}/metrics`)).body.text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(
    /^redshirt_store_peer_auth_failures_total\{reason="([^"]+)",side="([^"]+)"\} (\d+)$/gm,
  )) {
    out.set(`${m[1]}/${m[2]}`, Number(m[3]));
  }
  return out;
}

async function waitAllPeersUp(budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    const health = await Promise.all(
      nodes.map(
        async (n) => (await (await request(`${cluster.url(n.id)}/healthz`)).body.json()) as { peersUp: string[] },
      ),
    );
    if (health.every((h) => h.peersUp.length === nodes.length - 1)) return;
    assert.ok(Date.now() < deadline, `peers not all up within ${budgetMs} ms: ${JSON.stringify(health)}`);
    await sleep(100);
  }
}

/** A raw TCP connection to a node's peer port, from the attacker's address. */
function dialPeerPort(nodeId: string) {
  const n = nodes.find((x) => x.id === nodeId)!;
  const socket = connect({ host: n.host, port: n.port + storeConstants.storePeerPortOffset, localAddress: attacker });
  const frames: Record<string, unknown>[] = [];
  const decoder = new FrameDecoder();
  socket.on("data", (chunk) => decoder.push(chunk, (body) => frames.push(body as Record<string, unknown>)));
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  const isClosedWithin = (ms: number) => Promise.race([closed.then(() => true), sleep(ms).then(() => false)]);
  const nextFrame = async (count: number) => {
    for (let i = 0; i < 200 && frames.length < count; i++) await sleep(10);
    assert.ok(frames.length >= count, `${nodeId} answered ${frames.length} frames, wanted ${count}`);
    return frames[count - 1];
  };
  return { socket, frames, isClosedWithin, nextFrame };
}

/** Engine messages an attacker would like to inject once in, and a ping to see whether it is. */
const payload = Buffer.concat([
  encodeFrame(["hint", "forged"]),
  encodeFrame(["repair", "forged"]),
  encodeFrame({ ping: 1 }),
]);

test("store auth - a hello without the secret, one with another secret and a replayed one are refused by every node, counted, and replication goes on", async () => {
  await waitAllPeersUp(20_000);
  for (const n of nodes)
    assert.deepEqual(
      [...(await authFailures(n.id)).values()].filter((v) => v > 0),
      [],
      `${n.id} healthy`,
    );
  const wrongSecret = randomBytes(32);
  for (const target of nodes) {
    const claimed = nodes.find((n) => n.id !== target.id)!.id;
    // 1. A valid handshake (the test holds the secret), recorded; its connection is accepted.
    const nD = randomBytes(16);
    const hello = encodeFrame(dialerHello(claimed, target.id, nD));
    const valid = dialPeerPort(target.id);
    valid.socket.write(hello);
    const answered = answerReply(cluster.secret, claimed, target.id, nD, await valid.nextFrame(1));
    assert.ok(!("failure" in answered), `${target.id} proves the secret`);
    const proof = encodeFrame(answered.proof);
    valid.socket.write(Buffer.concat([proof, encodeFrame({ ping: 1 })]));
    assert.deepEqual(await valid.nextFrame(2), { pong: 1 }, "the valid handshake is accepted");
    valid.socket.destroy();
    // 2. The recording replayed: the node drew a new nonce, so the old proof fails.
    const replay = dialPeerPort(target.id);
    replay.socket.write(Buffer.concat([hello, proof, payload]));
    assert.ok(await replay.isClosedWithin(3_000), `${target.id} closes a replayed handshake`);
    assert.ok(!replay.frames.some((f) => "pong" in f), "no pong: nothing after the proof was taken");
    // 3. No secret: the hello is answered, but the proof is made up.
    const blind = dialPeerPort(target.id);
    blind.socket.write(encodeFrame(dialerHello(claimed, target.id, randomBytes(16))));
    await blind.nextFrame(1);
    blind.socket.write(Buffer.concat([encodeFrame({ proof: randomBytes(32).toString("hex") }), payload]));
    assert.ok(await blind.isClosedWithin(3_000), `${target.id} closes a proof made without the secret`);
    assert.ok(!blind.frames.some((f) => "pong" in f));
    // 4. Another planet's secret, used properly.
    const nW = randomBytes(16);
    const wrong = dialPeerPort(target.id);
    wrong.socket.write(encodeFrame(dialerHello(claimed, target.id, nW)));
    const reply = await wrong.nextFrame(1);
    const forged = dialerProof(wrongSecret, claimed, target.id, nW, reply.nonce as Uint8Array);
    wrong.socket.write(Buffer.concat([encodeFrame(forged), payload]));
    assert.ok(await wrong.isClosedWithin(3_000), `${target.id} closes a proof made with another secret`);
    assert.ok(!wrong.frames.some((f) => "pong" in f));
  }
  for (const n of nodes) {
    assert.deepEqual(
      Object.fromEntries(await authFailures(n.id)),
      { "bad-proof/inbound": 3 },
      `${n.id} counted each refusal`,
    );
    const lines = cluster.processes.get(n.id)!.tail().split("\n");
    const logged = lines.filter((l) => l.includes("RS_ERR_STORE_PEER_AUTH"));
    assert.equal(logged.length, 1, `${n.id} logs the attacker's address once, not per refusal:\n${logged.join("\n")}`);
    assert.match(logged[0], /127\.155\.9\.9/);
  }
  // Replication goes on: the recorded valid connection pushed out one real link per node,
  // which redials; then a write through each node reaches every replica (`all`).
  await waitAllPeersUp(10_000);
  for (const n of nodes) {
    const res = await request(`${cluster.url(n.id)}/v1/kv/after-${n.id}?consistency=all`, {
      method: "PUT",
      headers: { "idempotency-key": `after-${n.id}` },
      body: JSON.stringify({ value: n.id }),
    });
    assert.equal(res.statusCode, 200, await res.body.text());
    await res.body.dump();
  }
  for (const n of nodes) {
    const res = await request(`${cluster.url(n.id)}/v1/kv/after-${nodes[0].id}?consistency=local-one`);
    assert.equal(((await res.body.json()) as { value: string }).value, nodes[0].id);
  }
});

/** One request to one node; the session token and the answer. */
async function call(nodeId: string, method: "GET" | "POST", path: string, token?: string, body?: unknown) {
  const res = await request(`${cluster.url(nodeId)}${path}`, {
    method,
    headers: {
      ...(token ? { "rs-session": token } : {}),
      ...(method === "POST" ? { "idempotency-key": randomBytes(8).toString("hex") } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers
  const json = (await res.body.json()) as any;
  return { status: res.statusCode, token: res.headers["rs-session"] as string | undefined, json };
}

test("store auth - an altered or forged session token gets RS_ERR_STORE_BAD_SESSION; a valid one reads its writes on every node", async () => {
  let token: string | undefined;
  for (let i = 1; i <= 12; i++) {
    const writer = nodes[i % nodes.length].id;
    const reader = nodes[(i + 1) % nodes.length].id;
    const wrote = await call(writer, "POST", "/v1/kv/ryw/incr?consistency=local-one", token, { by: 1 });
    assert.equal(wrote.status, 200, JSON.stringify(wrote.json));
    token = wrote.token;
    assert.ok(token);
    // Another node, one replica: it answers only once it has the session's writes.
    for (let attempt = 0; ; attempt++) {
      const read = await call(reader, "GET", "/v1/kv/ryw?consistency=local-one", token);
      if (read.status === 503 && read.json.error.code === "RS_ERR_STORE_STALE" && attempt < 50) {
        await sleep(20);
        continue;
      }
      assert.equal(read.status, 200, JSON.stringify(read.json));
      assert.equal(read.json.value, i, `read ${i} on ${reader} after writing through ${writer}`);
      token = read.token;
      break;
    }
  }
  assert.ok(token);
  const entries = JSON.parse(Buffer.from(token, "base64url").toString()) as Record<string, [number, string]>;
  const [node, [hlc, mac]] = Object.entries(entries)[0];
  const tokenOf = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const refused = {
    "an HLC moved": tokenOf({ ...entries, [node]: [hlc + 1_000_000, mac] }),
    "a MAC digit changed": tokenOf({ ...entries, [node]: [hlc, (mac[0] === "0" ? "1" : "0") + mac.slice(1)] }),
    "signed with another secret": encodeSessionToken({ [node]: hlc }, randomBytes(32)),
    "unsigned (wire version 1)": tokenOf({ [node]: hlc }),
    "cut short": token.slice(0, -4),
  };
  for (const [what, bad] of Object.entries(refused)) {
    for (const n of nodes) {
      const read = await call(n.id, "GET", "/v1/kv/ryw", bad);
      assert.equal(read.status, 400, `${what} on ${n.id}: ${JSON.stringify(read.json)}`);
      assert.equal(read.json.error.code, "RS_ERR_STORE_BAD_SESSION", what);
      const write = await call(n.id, "POST", "/v1/kv/ryw/incr", bad, { by: 100 });
      assert.equal(write.json.error?.code, "RS_ERR_STORE_BAD_SESSION", what);
    }
  }
  // None of the refused writes was applied; the valid token still reads the last value.
  const last = await call(nodes[0].id, "GET", "/v1/kv/ryw?consistency=all", token);
  assert.equal(last.json.value, 12);
});
