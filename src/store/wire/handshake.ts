// The handshake that opens every node-to-node connection: before either side believes what
// the other says it is, each proves that it holds the planet secret. Three frames:
//
//   dialer   -> acceptor  {v, from, to, nonce}         nonce: helloNonceBytes random bytes
//   acceptor -> dialer    {v, from, to, nonce, proof}  proof of the acceptor
//   dialer   -> acceptor  {proof}                      proof of the dialer
//
// A proof is the HMAC (planet secret) of the wire version, the prover's role, its node id,
// the other's node id and both nonces. Each side checks the other's proof against a nonce
// it has just drawn itself, so a recorded handshake replayed later fails (the other side's
// nonce is new), and a process without the secret cannot make one. The roles are in the
// MAC, so an acceptor's proof is never a dialer's proof (no reflection). `from` is trusted
// only once the proof checks out.
//
// The handshake authenticates who opens a connection, not the bytes after it: the planet's
// links are assumed to be private (a site's subnet, a VPN or WireGuard between sites). An
// attacker on the path who can rewrite TCP needs TLS to keep out, which this is not.
//
// These functions are pure (nonces come in as arguments); tcp-transport.ts drives them and
// counts every refusal with PeerAuthFailures.
import { hmacHex, macEqual } from "../../core/index.ts";
import { helloNonceBytes, wireVersion } from "../constants.ts";

/** Why a handshake was refused: the `reason` label of redshirt_store_peer_auth_failures_total. */
export type HandshakeReason =
  | "malformed" // not a handshake frame, or a field of the wrong shape
  | "version" // another wire version
  | "unknown-node" // a sender that is not a store node of the planet
  | "wrong-node" // meant for another node, or the address answered as another node
  | "bad-proof" // a proof that does not check out: another secret, or a replay
  | "timeout"; // the handshake did not finish within the dial timeout

export type HandshakeFailure = { readonly failure: HandshakeReason; readonly text: string };

/** What the acceptor keeps between the dialer's hello and the dialer's proof. */
export type AcceptorState = {
  readonly peer: string;
  readonly dialerNonce: Buffer;
  readonly acceptorNonce: Buffer;
};

const fail = (failure: HandshakeReason, text: string): HandshakeFailure => ({ failure, text });

function proofOf(secret: Buffer, role: "dialer" | "acceptor", from: string, to: string, nD: Buffer, nA: Buffer) {
  return hmacHex(secret, "redshirt-store-hello", String(wireVersion), role, from, to, nD, nA);
}

/** The dialer's first frame. */
export function dialerHello(self: string, peer: string, nonce: Uint8Array): Record<string, unknown> {
  return { v: wireVersion, from: self, to: peer, nonce };
}

/** Checks the fields every hello has; the nonce is copied (decoded bytes are views of the receive buffer). */
function readHello(
  body: unknown,
): { from: string; to: string; nonce: Buffer; rest: Record<string, unknown> } | HandshakeFailure {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return fail("malformed", "the first frame is not a hello");
  }
  const rest = body as Record<string, unknown>;
  const { v, from, to, nonce } = rest;
  if (v === undefined) return fail("malformed", "the first frame is not a hello");
  if (v !== wireVersion) {
    return fail("version", `the peer speaks wire version ${String(v).slice(0, 20)}; this node speaks ${wireVersion}`);
  }
  if (typeof from !== "string" || from.length === 0) return fail("malformed", "the hello names no sender");
  if (typeof to !== "string") return fail("malformed", "the hello names no addressee");
  if (!(nonce instanceof Uint8Array) || nonce.length !== helloNonceBytes) {
    return fail("malformed", `the hello's nonce is not ${helloNonceBytes} bytes`);
  }
  return { from, to, nonce: Buffer.from(nonce), rest };
}

/**
 * The acceptor's answer to a dialer's hello: its own hello with its proof, and what it must
 * remember to check the dialer's proof. `isPeer` says whether a node id is a peer of this node.
 */
export function answerHello(
  secret: Buffer,
  self: string,
  isPeer: (id: string) => boolean,
  nonce: Uint8Array,
  body: unknown,
): { readonly reply: Record<string, unknown>; readonly state: AcceptorState } | HandshakeFailure {
  const hello = readHello(body);
  if ("failure" in hello) return hello;
  const { from, to } = hello;
  if (!isPeer(from)) return fail("unknown-node", `${from.slice(0, 70)} is not a known node`);
  if (to !== self) return fail("wrong-node", `${from} dialed ${to.slice(0, 70)}, but this is ${self}`);
  const state: AcceptorState = { peer: from, dialerNonce: hello.nonce, acceptorNonce: Buffer.from(nonce) };
  const proof = proofOf(secret, "acceptor", self, from, state.dialerNonce, state.acceptorNonce);
  return { reply: { v: wireVersion, from: self, to: from, nonce: state.acceptorNonce, proof }, state };
}

/**
 * The dialer checks the acceptor's answer to its hello (sent with `nonce`); on success it
 * sends the returned proof frame, and the peer is up.
 */
export function answerReply(
  secret: Buffer,
  self: string,
  peer: string,
  nonce: Uint8Array,
  body: unknown,
): { readonly proof: Record<string, unknown> } | HandshakeFailure {
  const hello = readHello(body);
  if ("failure" in hello) return hello;
  if (hello.from !== peer) return fail("wrong-node", `the node at this address is ${hello.from.slice(0, 70)}`);
  if (hello.to !== self) return fail("wrong-node", `the peer answered ${hello.to.slice(0, 70)}, but this is ${self}`);
  const dialerNonce = Buffer.from(nonce);
  const proof = hello.rest.proof;
  if (typeof proof !== "string") return fail("malformed", "the peer's hello carries no proof");
  if (!macEqual(proof, proofOf(secret, "acceptor", peer, self, dialerNonce, hello.nonce))) {
    return fail("bad-proof", `${peer} does not prove it holds this planet's secret`);
  }
  return { proof: dialerProof(secret, self, peer, dialerNonce, hello.nonce) };
}

/** The dialer's proof frame for the two nonces (what answerReply sends once the acceptor checked out). */
export function dialerProof(
  secret: Buffer,
  self: string,
  peer: string,
  dialerNonce: Uint8Array,
  acceptorNonce: Uint8Array,
): Record<string, unknown> {
  return { proof: proofOf(secret, "dialer", self, peer, Buffer.from(dialerNonce), Buffer.from(acceptorNonce)) };
}

/** The acceptor checks the dialer's proof; undefined when it checks out (the peer is `state.peer`). */
export function checkDialerProof(
  secret: Buffer,
  self: string,
  state: AcceptorState,
  body: unknown,
): HandshakeFailure | undefined {
  const proof = (body as { proof?: unknown } | null)?.proof;
  if (typeof body !== "object" || Array.isArray(body) || typeof proof !== "string") {
    return fail("malformed", "the second frame is not a proof");
  }
  if (!macEqual(proof, proofOf(secret, "dialer", state.peer, self, state.dialerNonce, state.acceptorNonce))) {
    return fail("bad-proof", `the dialer, saying it is ${state.peer}, did not prove it holds this planet's secret`);
  }
  return undefined;
}
