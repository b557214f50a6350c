// The production Transport: persistent TCP connections between store nodes, carrying
// length-prefixed msgpack frames (framing.ts).
//
// Each node dials one outbound connection to every peer and sends only on it; it receives
// on the connections its peers dialed. So messages from A to B always travel on A's one
// connection to B, in order. A connection opens with the planet-secret handshake
// (handshake.ts): the dialer counts the peer as up once the peer's hello is back with a good
// proof (right version, right node, same secret), and the acceptor takes the connection's
// messages only after the dialer's proof. A refused handshake closes the connection and is
// counted (redshirt_store_peer_auth_failures_total) and logged, rate-limited per address.
// The dialer pings every pingIntervalMs and the other side answers; either side closes a
// connection that has been silent for peerSilenceMsMax (a cut link, a frozen process),
// rather than waiting minutes for TCP to notice.
//
// Everything sent to a peer in one turn of the event loop goes out in one write. When a
// connection breaks, what was queued or in flight on it is lost (the engine resends from
// its cursors once the peer is up again); the dialer retries with jittered exponential
// back-off, from reconnectDelayMsMin up to reconnectDelayMsMax.
//
// When send() returns false (the message is not queued, the caller must count it lost):
// - the transport is not started, the peer is not in `peers` (or is this node), or
// - the peer is between dial attempts (down, waiting out the back-off), or
// - the bytes queued for the peer (ours plus the socket's unsent buffer) plus this frame
//   would pass sendQueueBytesMax, or the message alone is over frameBytesMax.
// While a dial is in progress send() queues, and the queue goes out once the peer is up; a
// dial that fails loses that queue without a down event (the peer was never up).
import { randomBytes } from "node:crypto";
import { createServer, connect as netConnect, type Server, type Socket } from "node:net";
import {
  assert,
  type Clock,
  type Counter,
  createLogger,
  isRedshirtError,
  type Logger,
  type Random,
  Registry,
  systemClock,
  systemRandom,
  type TimerHandle,
} from "../../core/index.ts";
import {
  connectTimeoutMs,
  frameBytesMax as frameBytesMaxDefault,
  helloBytesMax,
  helloNonceBytes,
  inboundConnectionsMax,
  keepAliveInitialDelayMs,
  peerSilenceMsMax,
  pingIntervalMs,
  reconnectDelayMsMax,
  reconnectDelayMsMin,
  sendQueueBytesMax as sendQueueBytesMaxDefault,
} from "../constants.ts";
import { storageErrors } from "../storage-errors.ts";
import { encodeFrame, FrameDecoder } from "./framing.ts";
import { answerReply, dialerHello, type HandshakeFailure } from "./handshake.ts";
import { PeerAuthFailures } from "./peer-auth-failures.ts";
import { InboundConnections } from "./tcp-inbound.ts";
import type { Transport, WireMessage } from "./transport.ts";

export type TcpAddress = { readonly host: string; readonly port: number };

export type TcpTransportInit = {
  readonly self: string;
  readonly listen: TcpAddress;
  /** Every other node and where it listens (an entry for `self` is ignored). */
  readonly peers: ReadonlyMap<string, TcpAddress>;
  /** The planet secret (core's loadPlanetSecret): every node of the planet must hold the same. */
  readonly secret: Buffer;
  /** Where the transport counts refused handshakes (default: a registry of its own). */
  readonly metrics?: Registry;
  readonly clock?: Clock;
  /** Jitter of the reconnect back-off. */
  readonly random?: Random;
  readonly logger?: Logger;
  /** Per-peer queue bound in bytes (default sendQueueBytesMax). */
  readonly sendQueueBytesMax?: number;
  /** Largest frame body in bytes, sent or received (default frameBytesMax). */
  readonly frameBytesMax?: number;
};

export type TcpTransport = Transport & {
  /**
   * The peers are now these (membership changed): new ones are dialed, those no longer
   * listed are closed and forgotten, the others keep their connection.
   */
  setPeers(peers: ReadonlyMap<string, TcpAddress>): void;
  /** Where the transport listens once started (the port the OS chose when `listen.port` was 0). */
  address(): TcpAddress | undefined;
  /** Handshakes refused so far for a reason (redshirt_store_peer_auth_failures_total). */
  authFailures(reason: string): number;
  /**
   * Connections closed because an authenticated peer sent a corrupt or unexpected frame
   * (redshirt_store_peer_frame_errors_total), both sides: 0 in a healthy planet.
   */
  frameErrors(): number;
};

type Outbound = {
  readonly peer: string;
  readonly address: TcpAddress;
  state: "idle" | "connecting" | "up" | "backoff";
  socket: Socket | undefined;
  frames: Buffer[];
  queuedBytes: number;
  failures: number;
  /** The dial timeout, the back-off wait, or the ping interval, by state. */
  timer: TimerHandle | undefined;
  lastHeardMs: number;
  pings: number;
  /** True until the first connection came up or failed: the peer is not known down yet. */
  untried: boolean;
};

export function createTcpTransport(init: TcpTransportInit): TcpTransport {
  return new Tcp(init);
}

class Tcp implements TcpTransport {
  readonly self: string;
  readonly #listen: TcpAddress;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #queueBytesMax: number;
  readonly #frameBytesMax: number;
  /** Frames of messages sent lately, by message object (see send()); weak, so nothing is kept for long. */
  readonly #encoded = new WeakMap<WireMessage, Buffer>();
  readonly #secret: Buffer;
  readonly #auth: PeerAuthFailures;
  readonly #frameErrors: Counter;
  readonly #outbound = new Map<string, Outbound>();
  readonly #inbound: InboundConnections;
  readonly #dirty = new Set<Outbound>();
  #flushScheduled = false;
  #server: Server | undefined;
  #starting: Promise<void> | undefined;
  #running = false;
  #onMessage: (from: string, message: WireMessage) => void = () => {};
  #onPeerChange: (peer: string, up: boolean) => void = () => {};

  constructor(init: TcpTransportInit) {
    this.self = init.self;
    this.#listen = init.listen;
    this.#clock = init.clock ?? systemClock;
    this.#random = init.random ?? systemRandom;
    this.#log = init.logger ?? createLogger({ part: "store", node: init.self });
    this.#frameBytesMax = init.frameBytesMax ?? frameBytesMaxDefault;
    this.#queueBytesMax = init.sendQueueBytesMax ?? sendQueueBytesMaxDefault;
    assert(this.#frameBytesMax + 4 <= this.#queueBytesMax, "one largest frame fits the send queue");
    this.#secret = init.secret;
    const metrics = init.metrics ?? new Registry();
    this.#auth = new PeerAuthFailures(metrics, this.#log, this.#clock);
    this.#frameErrors = metrics.counter(
      "redshirt_store_peer_frame_errors_total",
      "Node-to-node connections closed after the handshake because the peer sent a corrupt or unexpected frame, by side (inbound: dialed to this node; outbound: dialed by it). 0 in a healthy planet.",
    );
    this.#inbound = new InboundConnections({
      self: init.self,
      secret: init.secret,
      clock: this.#clock,
      log: this.#log,
      auth: this.#auth,
      frameErrors: this.#frameErrors,
      frameBytesMax: this.#frameBytesMax,
      isPeer: (id) => this.#outbound.has(id),
      onMessage: (from, message) => this.#onMessage(from, message),
    });
    for (const [peer, address] of init.peers) this.#addPeer(peer, address);
  }

  #addPeer(peer: string, address: TcpAddress): void {
    if (peer === this.self || this.#outbound.has(peer)) return;
    const ob: Outbound = {
      peer,
      address,
      state: "idle",
      socket: undefined,
      frames: [],
      queuedBytes: 0,
      failures: 0,
      timer: undefined,
      lastHeardMs: 0,
      pings: 0,
      untried: true,
    };
    this.#outbound.set(peer, ob);
    if (this.#running) this.#dial(ob);
  }

  setPeers(peers: ReadonlyMap<string, TcpAddress>): void {
    for (const [peer, ob] of [...this.#outbound]) {
      const address = peers.get(peer);
      if (address && address.host === ob.address.host && address.port === ob.address.port) continue;
      // Forgotten first, so the close below reports no "down" for a peer that is no more.
      this.#outbound.delete(peer);
      ob.timer?.cancel();
      ob.timer = undefined;
      ob.state = "idle";
      this.#clearQueue(ob);
      const socket = ob.socket;
      ob.socket = undefined;
      socket?.destroy();
      this.#log.info("peer forgotten", { peer });
    }
    for (const [peer, address] of peers) this.#addPeer(peer, address);
  }

  start(): Promise<void> {
    this.#starting ??= this.#start().catch((err) => {
      this.#starting = undefined;
      throw err;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const server = createServer(
      { noDelay: true, keepAlive: true, keepAliveInitialDelay: keepAliveInitialDelayMs },
      (s) => (this.#running ? this.#inbound.accept(s) : s.destroy()),
    );
    server.maxConnections = inboundConnectionsMax;
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) =>
        reject(
          storageErrors.create("RS_ERR_STORE_LISTEN", `${this.#listen.host}:${this.#listen.port}: ${err.message}`, {
            cause: err,
          }),
        ),
      );
      server.listen({ host: this.#listen.host, port: this.#listen.port }, () => resolve());
    });
    server.on("error", (err) => this.#log.error("node-to-node listener failed", { err }));
    this.#server = server;
    this.#running = true;
    for (const ob of this.#outbound.values()) this.#dial(ob);
  }

  async stop(): Promise<void> {
    const starting = this.#starting;
    if (!starting) return;
    this.#starting = undefined;
    await starting.catch(() => {});
    this.#running = false;
    for (const ob of this.#outbound.values()) {
      ob.timer?.cancel();
      ob.timer = undefined;
      ob.socket?.destroy();
      ob.socket = undefined;
      ob.state = "idle";
      ob.failures = 0;
      this.#clearQueue(ob);
    }
    this.#inbound.closeAll();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  address(): TcpAddress | undefined {
    const a = this.#server?.address();
    return a && typeof a === "object" ? { host: a.address, port: a.port } : undefined;
  }

  send(peer: string, message: WireMessage): boolean {
    assert(Array.isArray(message), "a wire message is an array");
    if (!this.#running) return false;
    const ob = this.#outbound.get(peer);
    if (!ob || (ob.state !== "up" && ob.state !== "connecting")) return false;
    // The same message object sent to many peers (a replication batch every replica gets)
    // is encoded once: frames are never changed after they are made.
    let frame = this.#encoded.get(message);
    try {
      if (frame === undefined) {
        frame = encodeFrame(message, this.#frameBytesMax);
        this.#encoded.set(message, frame);
      }
    } catch (err) {
      if (!isRedshirtError(err, "RS_ERR_STORE_WIRE")) throw err;
      this.#log.error("message too large to send; dropped", { peer, err });
      return false;
    }
    if (ob.queuedBytes + (ob.socket?.writableLength ?? 0) + frame.length > this.#queueBytesMax) return false;
    this.#enqueue(ob, frame);
    return true;
  }

  onMessage(handler: (from: string, message: WireMessage) => void): void {
    this.#onMessage = handler;
  }

  onPeerChange(handler: (peer: string, up: boolean) => void): void {
    this.#onPeerChange = handler;
  }

  isUp(peer: string): boolean {
    return this.#outbound.get(peer)?.state === "up";
  }

  mayBeUp(peer: string): boolean {
    const ob = this.#outbound.get(peer);
    return ob !== undefined && (ob.state === "up" || (ob.untried && ob.state !== "backoff"));
  }

  authFailures(reason: string): number {
    return this.#auth.count(reason);
  }

  frameErrors(): number {
    return this.#frameErrors.get({ side: "inbound" }) + this.#frameErrors.get({ side: "outbound" });
  }

  /** An authenticated peer sent a corrupt or unexpected frame: counted, logged, closed (and redialed). */
  #frameError(ob: Outbound, socket: Socket, reason: string): void {
    if (ob.socket !== socket) return;
    this.#frameErrors.inc({ side: "outbound" });
    this.#log.warn("closing a node-to-node connection", { code: "RS_ERR_STORE_WIRE", peer: ob.peer, reason });
    this.#lose(ob, socket, reason);
  }

  // ---- outbound: dial, hello, ping, back-off ----

  #dial(ob: Outbound): void {
    if (!this.#running) return;
    ob.state = "connecting";
    const socket = netConnect({
      host: ob.address.host,
      port: ob.address.port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: keepAliveInitialDelayMs,
    });
    ob.socket = socket;
    ob.timer = this.#clock.setTimer(connectTimeoutMs, () => this.#lose(ob, socket, "no hello within the dial timeout"));
    // Only pongs come back on this connection after the hello: small frames either way.
    const decoder = new FrameDecoder(helloBytesMax);
    const nonce = randomBytes(helloNonceBytes);
    let lastError: Error | undefined;
    socket.on("connect", () => socket.write(encodeFrame(dialerHello(this.self, ob.peer, nonce))));
    socket.on("data", (chunk: Buffer) => {
      const err = decoder.push(chunk, (body) => this.#onOutboundFrame(ob, socket, body, nonce));
      if (!err) return;
      if (ob.state === "connecting" && ob.socket === socket) {
        this.#authFailed(ob, { failure: "malformed", text: err.message });
        this.#lose(ob, socket, err.message);
      } else this.#frameError(ob, socket, err.message);
    });
    socket.on("drain", () => this.#flush(ob));
    socket.on("error", (err) => {
      lastError = err;
    });
    socket.on("close", () => this.#lose(ob, socket, lastError?.message ?? "connection closed"));
  }

  #onOutboundFrame(ob: Outbound, socket: Socket, body: unknown, nonce: Buffer): void {
    if (ob.socket !== socket) return;
    ob.lastHeardMs = this.#clock.monoMs();
    if (ob.state === "connecting") {
      const answer = answerReply(this.#secret, this.self, ob.peer, nonce, body);
      if ("failure" in answer) {
        this.#authFailed(ob, answer);
        this.#lose(ob, socket, answer.text);
        return;
      }
      // The proof goes out before anything queued: the queue is flushed on a later turn.
      socket.write(encodeFrame(answer.proof));
      ob.timer?.cancel();
      ob.state = "up";
      ob.untried = false;
      ob.failures = 0;
      this.#armPing(ob, socket);
      this.#log.info("peer up", { peer: ob.peer });
      this.#onPeerChange(ob.peer, true);
      if (ob.socket === socket && ob.frames.length > 0) this.#markDirty(ob);
      return;
    }
    const pong = (body as { pong?: unknown } | null)?.pong;
    if (typeof pong !== "number") this.#frameError(ob, socket, "the peer sent an unexpected frame");
  }

  #armPing(ob: Outbound, socket: Socket): void {
    ob.timer = this.#clock.setTimer(pingIntervalMs, () => {
      if (ob.socket !== socket) return;
      if (this.#clock.monoMs() - ob.lastHeardMs > peerSilenceMsMax) {
        this.#lose(ob, socket, `silent for over ${peerSilenceMsMax} ms`);
        return;
      }
      this.#enqueue(ob, encodeFrame({ ping: ++ob.pings }));
      this.#armPing(ob, socket);
    });
  }

  /** The connection `socket` of `ob` is gone (or must go): drop its queue and retry after a back-off. */
  #lose(ob: Outbound, socket: Socket, reason: string): void {
    if (ob.socket !== socket) return;
    socket.destroy();
    ob.socket = undefined;
    ob.untried = false;
    ob.timer?.cancel();
    ob.timer = undefined;
    this.#clearQueue(ob);
    const wasUp = ob.state === "up";
    if (!this.#running) {
      ob.state = "idle";
      return;
    }
    ob.state = "backoff";
    const delayMs = this.#backoffMs(ob.failures++);
    ob.timer = this.#clock.setTimer(delayMs, () => {
      ob.timer = undefined;
      if (ob.state === "backoff") this.#dial(ob);
    });
    if (wasUp) {
      this.#log.info("peer down", { peer: ob.peer, reason, retryInMs: Math.round(delayMs) });
      this.#onPeerChange(ob.peer, false);
    } else {
      this.#log.debug("dial failed", { peer: ob.peer, reason, retryInMs: Math.round(delayMs) });
    }
  }

  #authFailed(ob: Outbound, failure: HandshakeFailure): void {
    this.#auth.record("outbound", `${ob.address.host}:${ob.address.port}`, failure, { peer: ob.peer });
  }

  #backoffMs(failures: number): number {
    const capped = Math.min(reconnectDelayMsMax, reconnectDelayMsMin * 2 ** Math.min(failures, 30));
    return capped * (0.5 + this.#random.next() / 2);
  }

  // ---- outbound: queue and batched writes ----

  #enqueue(ob: Outbound, frame: Buffer): void {
    ob.frames.push(frame);
    ob.queuedBytes += frame.length;
    if (ob.state === "up") this.#markDirty(ob);
  }

  #clearQueue(ob: Outbound): void {
    ob.frames = [];
    ob.queuedBytes = 0;
    this.#dirty.delete(ob);
  }

  #markDirty(ob: Outbound): void {
    this.#dirty.add(ob);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // After this turn's I/O callbacks: every frame queued in the turn leaves in one write.
    setImmediate(() => {
      this.#flushScheduled = false;
      const dirty = [...this.#dirty];
      this.#dirty.clear();
      for (const ob of dirty) this.#flush(ob);
    });
  }

  #flush(ob: Outbound): void {
    const socket = ob.socket;
    if (ob.state !== "up" || !socket || ob.frames.length === 0) return;
    // Past the kernel's buffer the socket queues; wait for 'drain' and send the backlog then.
    if (socket.writableNeedDrain) return;
    const data = ob.frames.length === 1 ? ob.frames[0] : Buffer.concat(ob.frames, ob.queuedBytes);
    ob.frames = [];
    ob.queuedBytes = 0;
    socket.write(data);
  }
}
