import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { createLogger, ManualClock, Registry } from "../../core/index.ts";
import { frameHeaderBytes, peerAuthLogAddressesMax, peerAuthLogIntervalMs } from "../constants.ts";
import { decodeBody, encodeFrame } from "./framing.ts";
import {
  type AcceptorState,
  answerHello,
  answerReply,
  checkDialerProof,
  dialerHello,
  type HandshakeFailure,
} from "./handshake.ts";
import { PeerAuthFailures } from "./peer-auth-failures.ts";

const secret = randomBytes(32);
const known = (id: string) => ["a", "b", "c"].includes(id);
const nonce = () => randomBytes(16);
const body = (frame: Buffer): unknown => decodeBody(frame.subarray(frameHeaderBytes));

// Wire format fixtures of version 2 (secret 32 bytes of 7, nonces 0..15 and 16..31). A
// change that breaks them breaks mixed clusters during a rolling upgrade. Version 1's hello
// is kept to show a version 1 node is told why it is refused.
const fixtures = {
  helloV1: "00000019de0003a17601a466726f6da46e792d31a2746fa56c646e2d32",
  hello: "00000031de0004a17602a466726f6da46e792d31a2746fa56c646e2d32a56e6f6e6365c410000102030405060708090a0b0c0d0e0f",
  reply:
    "00000079de0005a17602a466726f6da56c646e2d32a2746fa46e792d31a56e6f6e6365c410101112131415161718191a1b1c1d1e1fa570726f6f66d94063333333323966336533613834666639373131616665623533656433643563316566326265323835376462343430613533633063613761616236323362323062",
  proof:
    "0000004bde0001a570726f6f66d94065376662316438643032613538623733376234346135323530386137393532346464343761356665666539393135333832623062633936616664396230353961",
};

function isFailure(x: unknown): x is HandshakeFailure {
  return typeof x === "object" && x !== null && "failure" in x;
}

/** Runs the three frames between dialer `from` and acceptor `to`, each with its own secret; returns what each side decided. */
function handshake(from: string, to: string, dialerSecret = secret, acceptorSecret = secret) {
  const nD = nonce();
  // Every frame goes through the codec, as on the wire.
  const hello = body(encodeFrame(dialerHello(from, to, nD)));
  const accepted = answerHello(acceptorSecret, to, known, nonce(), hello);
  if (isFailure(accepted)) return { acceptor: accepted };
  const answered = answerReply(dialerSecret, from, to, nD, body(encodeFrame(accepted.reply)));
  if (isFailure(answered)) return { dialer: answered };
  const proof = body(encodeFrame(answered.proof));
  return { acceptor: checkDialerProof(acceptorSecret, to, accepted.state, proof), state: accepted.state, proof, hello };
}

test("handshake - two sides with the same secret each prove it, and the acceptor learns who dialed", () => {
  const outcome = handshake("a", "b");
  assert.equal(outcome.dialer, undefined);
  assert.equal(outcome.acceptor, undefined);
  assert.equal(outcome.state?.peer, "a");
});

test("handshake - a side with another secret is refused by the other, whichever side it is", () => {
  const other = randomBytes(32);
  // The acceptor has another secret: the dialer refuses its proof and never sends its own.
  assert.equal(handshake("a", "b", secret, other).dialer?.failure, "bad-proof");
  // The dialer has another secret: it refuses the acceptor's proof first; had it not (a
  // stranger that ignores the proof), its own proof is refused.
  assert.equal(handshake("a", "b", other, secret).dialer?.failure, "bad-proof");
  const nD = nonce();
  const accepted = answerHello(secret, "b", known, nonce(), dialerHello("a", "b", nD));
  assert.ok(!isFailure(accepted));
  const forged = answerReply(other, "a", "b", nD, { ...accepted.reply, proof: undefined });
  assert.equal(isFailure(forged) && forged.failure, "malformed", "a reply without a proof");
  const stranger = { proof: "00".repeat(32) };
  assert.equal(checkDialerProof(secret, "b", accepted.state, stranger)?.failure, "bad-proof");
  assert.equal(checkDialerProof(secret, "b", accepted.state, {})?.failure, "malformed");
  assert.equal(checkDialerProof(secret, "b", accepted.state, ["a message"])?.failure, "malformed");
  assert.equal(checkDialerProof(secret, "b", accepted.state, null)?.failure, "malformed");
});

test("handshake - a recorded handshake replayed on a new connection is refused (the acceptor's nonce is new)", () => {
  const recorded = handshake("a", "b");
  assert.equal(recorded.acceptor, undefined);
  // The replayer sends the same hello and the same proof; the acceptor drew a new nonce.
  const again = answerHello(secret, "b", known, nonce(), recorded.hello);
  assert.ok(!isFailure(again), "the hello alone is answered (it proves nothing yet)");
  assert.equal(checkDialerProof(secret, "b", again.state, recorded.proof)?.failure, "bad-proof");
  // Replaying an acceptor's answer to a dialer fails the same way: the dialer's nonce is new.
  const nD = nonce();
  const accepted = answerHello(secret, "b", known, nonce(), dialerHello("a", "b", nD));
  assert.ok(!isFailure(accepted));
  const replayed = answerReply(secret, "a", "b", nonce(), accepted.reply);
  assert.equal(isFailure(replayed) && replayed.failure, "bad-proof");
});

test("handshake - a proof is bound to its role and both node ids: no reflection, no relabelling", () => {
  const nD = nonce();
  const accepted = answerHello(secret, "b", known, nonce(), dialerHello("a", "b", nD));
  assert.ok(!isFailure(accepted));
  // The acceptor's own proof sent back as the dialer's.
  const reflected = { proof: accepted.reply.proof };
  assert.equal(checkDialerProof(secret, "b", accepted.state, reflected)?.failure, "bad-proof");
  // a's good proof, presented by a connection that said it was c.
  const answered = answerReply(secret, "a", "b", nD, accepted.reply);
  assert.ok(!isFailure(answered));
  const asC: AcceptorState = { ...accepted.state, peer: "c" };
  assert.equal(checkDialerProof(secret, "b", asC, answered.proof)?.failure, "bad-proof");
});

test("handshake - another version, a stranger, a hello for another node or of the wrong shape is refused with its reason", () => {
  const refuse = (hello: unknown) => {
    const r = answerHello(secret, "b", known, nonce(), hello);
    assert.ok(isFailure(r), JSON.stringify(hello));
    return r;
  };
  const v1 = refuse(body(Buffer.from(fixtures.helloV1, "hex")));
  assert.equal(v1.failure, "version");
  assert.match(v1.text, /wire version 1; this node speaks 2/);
  assert.equal(refuse({ ...dialerHello("a", "b", nonce()), v: 3 }).failure, "version");
  assert.equal(refuse(dialerHello("stranger", "b", nonce())).failure, "unknown-node");
  assert.equal(refuse(dialerHello("a", "c", nonce())).failure, "wrong-node");
  assert.equal(refuse(dialerHello("a", "b", randomBytes(8))).failure, "malformed");
  assert.equal(refuse({ v: 2, from: "a", to: "b" }).failure, "malformed");
  assert.equal(refuse({ v: 2, to: "b", nonce: nonce() }).failure, "malformed");
  assert.equal(refuse(["a message before any hello"]).failure, "malformed");
  assert.equal(refuse(null).failure, "malformed");
  // The dialer's side: the address answered as another node, or in another version.
  const nD = nonce();
  const accepted = answerHello(secret, "b", known, nonce(), dialerHello("a", "b", nD));
  assert.ok(!isFailure(accepted));
  const check = (reply: unknown, peer = "b") => answerReply(secret, "a", peer, nD, reply);
  assert.equal((check(accepted.reply, "c") as HandshakeFailure).failure, "wrong-node");
  assert.equal((check({ ...accepted.reply, to: "z" }) as HandshakeFailure).failure, "wrong-node");
  assert.equal((check({ ...accepted.reply, v: 1 }) as HandshakeFailure).failure, "version");
  assert.equal((check({ pong: 1 }) as HandshakeFailure).failure, "malformed");
});

test("handshake - version 2 fixtures: the three frames encode to the pinned bytes and check out", () => {
  const fixed = Buffer.alloc(32, 7);
  const nD = Buffer.from(Array.from({ length: 16 }, (_, i) => i));
  const nA = Buffer.from(Array.from({ length: 16 }, (_, i) => i + 16));
  assert.equal(encodeFrame(dialerHello("ny-1", "ldn-2", nD)).toString("hex"), fixtures.hello);
  const accepted = answerHello(fixed, "ldn-2", () => true, nA, body(Buffer.from(fixtures.hello, "hex")));
  assert.ok(!isFailure(accepted));
  assert.equal(encodeFrame(accepted.reply).toString("hex"), fixtures.reply);
  const answered = answerReply(fixed, "ny-1", "ldn-2", nD, body(Buffer.from(fixtures.reply, "hex")));
  assert.ok(!isFailure(answered));
  assert.equal(encodeFrame(answered.proof).toString("hex"), fixtures.proof);
  assert.equal(checkDialerProof(fixed, "ldn-2", accepted.state, body(Buffer.from(fixtures.proof, "hex"))), undefined);
});

test("peer auth failures - every refusal is counted by reason and side; each address is logged once per interval", () => {
  const lines: string[] = [];
  const clock = new ManualClock();
  const metrics = new Registry();
  const failures = new PeerAuthFailures(metrics, createLogger({}, { write: (l) => lines.push(l) }), clock);
  const badProof: HandshakeFailure = { failure: "bad-proof", text: "x" };
  for (let i = 0; i < 5; i++) failures.record("inbound", "127.0.0.9", badProof);
  failures.record("inbound", "127.0.0.8", { failure: "version", text: "v" });
  failures.record("outbound", "127.0.0.7:7401", badProof);
  assert.equal(failures.count("bad-proof"), 6);
  assert.equal(failures.count("bad-proof", "inbound"), 5);
  assert.equal(failures.count("version"), 1);
  assert.match(metrics.render(), /redshirt_store_peer_auth_failures_total\{reason="bad-proof",side="inbound"\} 5/);
  assert.equal(lines.length, 3, "one line per address");
  assert.ok(lines.every((l) => l.includes("RS_ERR_STORE_PEER_AUTH")));
  clock.advance(peerAuthLogIntervalMs);
  failures.record("inbound", "127.0.0.9", badProof);
  assert.equal(lines.length, 4);
  assert.equal(JSON.parse(lines[3]).notLoggedSinceLastLine, 4, "the next line says how many were left out");
  // The addresses remembered are bounded; the oldest is forgotten (and would be logged again).
  for (let i = 0; i < peerAuthLogAddressesMax + 10; i++)
    failures.record("inbound", `10.0.${i >> 8}.${i & 255}`, badProof);
  assert.equal(lines.length, 4 + peerAuthLogAddressesMax + 10);
  failures.record("inbound", "127.0.0.9", badProof);
  assert.equal(lines.length, 5 + peerAuthLogAddressesMax + 10, "forgotten, so logged again at once");
});
