// The accepting half of the TCP transport: connections that peers dialed to this node. Each
// must pass the handshake (handshake.ts) before anything it sends is taken: until the
// dialer's proof checks out, frames are at most helloBytesMax, a refusal is counted and
// logged (PeerAuthFailures), and the connection cannot push out the peer's real one. After
// it: engine messages go to onMessage, pings are answered, anything else closes it.
import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Clock, Counter, Logger, TimerHandle } from "../../core/index.ts";
import { connectTimeoutMs, helloBytesMax, helloNonceBytes, peerSilenceMsMax, pingIntervalMs } from "../constants.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { type AcceptorState, answerHello, checkDialerProof, type HandshakeFailure } from "./handshake.ts";
import type { PeerAuthFailures } from "./peer-auth-failures.ts";
import type { WireMessage } from "./transport.ts";

export type InboundInit = {
  readonly self: string;
  readonly secret: Buffer;
  readonly clock: Clock;
  readonly log: Logger;
  readonly auth: PeerAuthFailures;
  /** Frames from an authenticated peer that were corrupt or unexpected (each closes its connection). */
  readonly frameErrors: Counter;
  /** The largest frame body once the handshake is done. */
  readonly frameBytesMax: number;
  /** Whether a node id is a peer of this node. */
  readonly isPeer: (id: string) => boolean;
  readonly onMessage: (from: string, message: WireMessage) => void;
};

type Inbound = {
  readonly socket: Socket;
  /** Set once the dialer's proof checked out; until then nothing it says is believed. */
  peer: string | undefined;
  /** Between the dialer's hello and its proof. */
  hello: AcceptorState | undefined;
  closed: boolean;
  lastHeardMs: number;
  readonly openedMs: number;
  timer: TimerHandle | undefined;
};

export class InboundConnections {
  readonly #init: InboundInit;
  readonly #open = new Set<Inbound>();
  readonly #byPeer = new Map<string, Inbound>();

  constructor(init: InboundInit) {
    this.#init = init;
  }

  closeAll(): void {
    for (const conn of this.#open) this.#close(conn);
  }

  accept(socket: Socket): void {
    const now = this.#init.clock.monoMs();
    const conn: Inbound = {
      socket,
      peer: undefined,
      hello: undefined,
      closed: false,
      lastHeardMs: now,
      openedMs: now,
      timer: undefined,
    };
    this.#open.add(conn);
    const decoder = new FrameDecoder(helloBytesMax);
    socket.on("data", (chunk: Buffer) => {
      conn.lastHeardMs = this.#init.clock.monoMs();
      const err = decoder.push(chunk, (body) => this.#onFrame(conn, body, decoder));
      if (!err) return;
      if (conn.peer === undefined) this.#refuse(conn, { failure: "malformed", text: err.message });
      else this.#reject(conn, err.message);
    });
    socket.on("error", () => {});
    socket.on("close", () => this.#close(conn));
    this.#watch(conn);
  }

  #watch(conn: Inbound): void {
    conn.timer = this.#init.clock.setTimer(pingIntervalMs, () => {
      const now = this.#init.clock.monoMs();
      if (conn.peer === undefined && now - conn.openedMs > connectTimeoutMs) {
        this.#refuse(conn, { failure: "timeout", text: "no handshake within the dial timeout" });
        return;
      }
      if (now - conn.lastHeardMs > peerSilenceMsMax) {
        this.#close(conn);
        return;
      }
      this.#watch(conn);
    });
  }

  #onFrame(conn: Inbound, body: unknown, decoder: FrameDecoder): void {
    if (conn.closed) return;
    if (conn.hello === undefined) {
      const answer = answerHello(
        this.#init.secret,
        this.#init.self,
        this.#init.isPeer,
        randomBytes(helloNonceBytes),
        body,
      );
      if ("failure" in answer) {
        this.#refuse(conn, answer);
        return;
      }
      conn.hello = answer.state;
      conn.socket.write(encodeFrame(answer.reply));
      return;
    }
    if (conn.peer === undefined) {
      const failure = checkDialerProof(this.#init.secret, this.#init.self, conn.hello, body);
      if (failure) {
        this.#refuse(conn, failure);
        return;
      }
      const peer = conn.hello.peer;
      conn.peer = peer;
      // The peer keeps one connection to us: a new one means it gave up the old one.
      const old = this.#byPeer.get(peer);
      if (old) this.#close(old);
      this.#byPeer.set(peer, conn);
      decoder.setFrameBytesMax(this.#init.frameBytesMax);
      return;
    }
    if (Array.isArray(body)) {
      this.#init.onMessage(conn.peer, body);
      return;
    }
    const ping = (body as { ping?: unknown } | null)?.ping;
    if (typeof ping === "number") {
      conn.socket.write(encodeFrame({ pong: ping }));
      return;
    }
    this.#reject(conn, "unexpected frame");
  }

  /** A peer past the handshake sent a corrupt or unexpected frame: counted, logged, closed. */
  #reject(conn: Inbound, reason: string): void {
    if (conn.closed) return;
    this.#init.frameErrors.inc({ side: "inbound" });
    this.#init.log.warn("closing a node-to-node connection", {
      code: "RS_ERR_STORE_WIRE",
      peer: conn.peer,
      remote: `${conn.socket.remoteAddress}:${conn.socket.remotePort}`,
      reason,
    });
    this.#close(conn);
  }

  /** A connection that failed the handshake: counted, logged (rate-limited), closed. */
  #refuse(conn: Inbound, failure: HandshakeFailure): void {
    if (conn.closed) return;
    this.#init.auth.record("inbound", conn.socket.remoteAddress ?? "unknown", failure, {
      remote: `${conn.socket.remoteAddress}:${conn.socket.remotePort}`,
      claims: conn.hello?.peer,
    });
    this.#close(conn);
  }

  #close(conn: Inbound): void {
    if (conn.closed) return;
    conn.closed = true;
    conn.timer?.cancel();
    conn.socket.destroy();
    this.#open.delete(conn);
    if (conn.peer !== undefined && this.#byPeer.get(conn.peer) === conn) this.#byPeer.delete(conn.peer);
  }
}
