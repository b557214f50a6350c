// A seeded, in-memory network for the deterministic simulation: it hands every simulated
// node a Transport that behaves like the TCP one, and faults on command. Everything happens
// on the injected clock's timers, so advancing a ManualClock drives the whole network and a
// seed replays a run exactly.
//
// The model. Each ordered pair of nodes (a "link") carries at most one live connection at a
// time, as the TCP transport's one outbound connection per peer does:
// - a message is delivered after the link's base delay (latencyMs(from, to), e.g. from the
//   sites' distance) plus uniform jitter; within one connection order is kept (a message
//   never overtakes an earlier one on it), across connections it is not;
// - every message is a msgpack frame on the way (so nodes never share objects, and what
//   cannot be encoded fails as it would on the wire);
// - with probability lossRate a sent message is lost, and the loss breaks its connection
//   (TCP does not lose data without breaking the connection): later messages on it are
//   lost too, the sender is told the peer is down, and a new connection comes up later;
// - partition(a, b) cuts every link between the groups both ways (in-flight messages are
//   lost), heal() restores them; crash(node) ends the node's transport for good (messages
//   in flight to it are lost; those it sent before still arrive, possibly after messages
//   of its next life), restart(node) lets a new transport for it be created and started;
// - a sender learns that a connection broke one link delay after the break (onPeerChange
//   false); until then its sends are accepted and lost. A link comes back 2 link delays plus
//   a reconnect delay after it becomes possible again (onPeerChange true).
// send() returns false when the transport is not started, the peer is unknown or this node,
// the sender sees the peer down, or the bytes in flight on the connection would pass the
// bound. Unlike TCP there is no "connecting" phase in which send() queues.
import { assert, type Clock, isRedshirtError, type Random } from "../../core/index.ts";
import {
  frameBytesMax as frameBytesMaxDefault,
  frameHeaderBytes,
  reconnectDelayMsMax,
  reconnectDelayMsMin,
  sendQueueBytesMax as sendQueueBytesMaxDefault,
  simJitterMsDefault,
  simLatencyMsDefault,
} from "../constants.ts";
import { decodeBody, encodeFrame } from "../wire/framing.ts";
import type { Transport, WireMessage } from "../wire/transport.ts";

export type SimNetworkOptions = {
  /** Drives every delivery (a ManualClock in the simulation). */
  readonly clock: Clock;
  readonly random: Random;
  /** Base one-way delay of a link in ms (default simLatencyMsDefault for every link). */
  readonly latencyMs?: (from: string, to: string) => number;
  /** Uniform extra delay in [0, jitterMs) per message (default simJitterMsDefault). */
  readonly jitterMs?: number;
  /** Probability that a message is lost (and its connection broken). Default 0. */
  readonly lossRate?: number;
  /** Bytes in flight on one connection before send() refuses (default sendQueueBytesMax). */
  readonly sendQueueBytesMax?: number;
  readonly frameBytesMax?: number;
};

export type SimNetworkStats = {
  sent: number;
  delivered: number;
  /** Messages lost to faults: loss, partitions, crashes, stops. */
  dropped: number;
  /** Connections broken by a message loss. */
  lossBreaks: number;
};

/** The per-incarnation state of a node's transport, shared by the network and the transport. */
type Slot = {
  readonly id: string;
  started: boolean;
  /** Crashed, or replaced by a newer transport of the same node. */
  dead: boolean;
  onMessage: (from: string, message: WireMessage) => void;
  onPeerChange: (peer: string, up: boolean) => void;
};

type InFlight = { readonly atMs: number; readonly frame: Buffer };

type Conn = {
  readonly receiver: Slot;
  readonly cutEpoch: number;
  dead: boolean;
  readonly queue: InFlight[];
  inflightBytes: number;
  lastAtMs: number;
  timer: { cancel(): void } | undefined;
};

type Link = {
  readonly from: string;
  readonly to: string;
  cut: boolean;
  cutEpoch: number;
  conn: Conn | undefined;
  connectTimer: { cancel(): void } | undefined;
  downTimer: { cancel(): void } | undefined;
  /** What the sender's transport believes: the last peer change it was told. */
  viewUp: boolean;
};

type SimNode = { readonly id: string; crashed: boolean; slot: Slot | undefined };

export class SimNetwork {
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #latencyMs: (from: string, to: string) => number;
  readonly #queueBytesMax: number;
  readonly #frameBytesMax: number;
  #jitterMs: number;
  #lossRate: number;
  #held: ((from: string, to: string, message: WireMessage) => boolean) | undefined;
  readonly #nodes = new Map<string, SimNode>();
  readonly #links = new Map<string, Link>();
  readonly #stats: SimNetworkStats = { sent: 0, delivered: 0, dropped: 0, lossBreaks: 0 };
  /** Frame bytes each link accepted to send (lost ones included, as a kernel counts what it sent). */
  readonly #bytesSent = new Map<string, number>();

  constructor(options: SimNetworkOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#latencyMs = options.latencyMs ?? (() => simLatencyMsDefault);
    this.#jitterMs = options.jitterMs ?? simJitterMsDefault;
    this.#lossRate = options.lossRate ?? 0;
    this.#queueBytesMax = options.sendQueueBytesMax ?? sendQueueBytesMaxDefault;
    this.#frameBytesMax = options.frameBytesMax ?? frameBytesMaxDefault;
    this.setLossRate(this.#lossRate);
    this.setJitterMs(this.#jitterMs);
  }

  /**
   * A new transport for `nodeId` (a node is known to the network from its first call). A
   * node's previous transport, if any, is retired as if its process had exited.
   */
  transport(nodeId: string): Transport {
    let node = this.#nodes.get(nodeId);
    if (!node) {
      node = { id: nodeId, crashed: false, slot: undefined };
      for (const other of this.#nodes.keys()) {
        this.#links.set(linkKey(nodeId, other), newLink(nodeId, other));
        this.#links.set(linkKey(other, nodeId), newLink(other, nodeId));
      }
      this.#nodes.set(nodeId, node);
    }
    assert(!node.crashed, `node ${nodeId} is crashed: restart() it before creating its transport`);
    if (node.slot) this.#retire(node.slot);
    const slot: Slot = { id: nodeId, started: false, dead: false, onMessage: () => {}, onPeerChange: () => {} };
    node.slot = slot;
    return new SimTransport(slot, {
      start: () => this.#start(slot),
      stop: () => this.#stop(slot),
      send: (peer, message) => this.#send(slot, peer, message),
      isUp: (peer) => this.#isUp(slot, peer),
    });
  }

  /** The node dies: its transport neither sends nor receives again; messages in flight to it are lost. */
  crash(nodeId: string): void {
    const node = this.#node(nodeId);
    node.crashed = true;
    if (node.slot) this.#retire(node.slot);
    node.slot = undefined;
  }

  /** The node may run again: create its new transport with transport(nodeId) and start it. */
  restart(nodeId: string): void {
    this.#node(nodeId).crashed = false;
  }

  /** Cuts every link between a node of groupA and a node of groupB, both ways. */
  partition(groupA: readonly string[], groupB: readonly string[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        for (const link of [this.#link(a, b), this.#link(b, a)]) {
          if (link.cut) continue;
          link.cut = true;
          link.cutEpoch++;
          this.#refresh(link);
        }
      }
    }
  }

  /** Cuts every link of one node (a node alone behind a partition). */
  isolate(nodeId: string): void {
    this.partition([nodeId], [...this.#nodes.keys()]);
  }

  /** Restores every cut link. */
  heal(): void {
    for (const link of this.#links.values()) {
      if (!link.cut) continue;
      link.cut = false;
      this.#refresh(link);
    }
  }

  /** Whether `from` sees its link to `to` up (what its transport's isUp says). */
  isLinkUp(from: string, to: string): boolean {
    const slot = this.#nodes.get(from)?.slot;
    return slot !== undefined && this.#isUp(slot, to);
  }

  isCut(from: string, to: string): boolean {
    return this.#link(from, to).cut;
  }

  /**
   * Holds back every message `matches` picks, for ever, without breaking the connection: as
   * if those messages were stuck behind a slow path (a test's way to make one node hear one
   * kind of message from a peer late while the rest flows). `undefined` lets them through again.
   */
  holdBack(matches: ((from: string, to: string, message: WireMessage) => boolean) | undefined): void {
    this.#held = matches;
  }

  setLossRate(rate: number): void {
    assert(rate >= 0 && rate <= 1, "a loss rate is in [0, 1]");
    this.#lossRate = rate;
  }

  setJitterMs(jitterMs: number): void {
    assert(jitterMs >= 0, "jitter is non-negative");
    this.#jitterMs = jitterMs;
  }

  get stats(): Readonly<SimNetworkStats> {
    return { ...this.#stats };
  }

  /** Frame bytes (length prefixes included) the nodes of `from` sent the nodes of `to` so far. */
  bytesSent(from: readonly string[], to: readonly string[]): number {
    let total = 0;
    for (const a of from) for (const b of to) total += this.#bytesSent.get(linkKey(a, b)) ?? 0;
    return total;
  }

  // ---- what a SimTransport does ----

  #start(slot: Slot): void {
    assert(!slot.dead, `a retired transport of ${slot.id} cannot start again; create a new one`);
    if (slot.started) return;
    slot.started = true;
    this.#refreshNode(slot.id);
  }

  #stop(slot: Slot): void {
    if (!slot.started) return;
    slot.started = false;
    this.#refreshNode(slot.id);
  }

  #isUp(slot: Slot, peer: string): boolean {
    if (!slot.started || slot.dead || peer === slot.id || !this.#nodes.has(peer)) return false;
    return this.#link(slot.id, peer).viewUp;
  }

  #send(slot: Slot, peer: string, message: WireMessage): boolean {
    assert(Array.isArray(message), "a wire message is an array");
    if (!this.#isUp(slot, peer)) return false;
    const link = this.#link(slot.id, peer);
    // Encoded even when lost: a message that cannot go on the wire fails here as on TCP.
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.#frameBytesMax);
    } catch (err) {
      if (isRedshirtError(err, "RS_ERR_STORE_WIRE")) return false;
      throw err;
    }
    const conn = link.conn;
    if (conn && conn.inflightBytes + frame.length > this.#queueBytesMax) return false;
    this.#stats.sent++;
    const key = linkKey(slot.id, peer);
    this.#bytesSent.set(key, (this.#bytesSent.get(key) ?? 0) + frame.length);
    if (!conn) {
      // The connection broke and the sender has not noticed yet.
      this.#stats.dropped++;
      return true;
    }
    if (this.#held?.(slot.id, peer, message)) {
      this.#stats.dropped++;
      return true;
    }
    if (this.#lossRate > 0 && this.#random.next() < this.#lossRate) {
      this.#stats.dropped++;
      this.#stats.lossBreaks++;
      this.#endConn(conn);
      link.conn = undefined;
      this.#scheduleDown(link);
      this.#refresh(link);
      return true;
    }
    const base = this.#latencyMs(link.from, link.to);
    // Whole milliseconds: the ManualClock's epoch-sized numbers cannot hold fractions exactly.
    const jitterMs = Math.floor(this.#random.next() * this.#jitterMs);
    const atMs = Math.max(Math.round(this.#clock.monoMs() + base) + jitterMs, conn.lastAtMs);
    conn.lastAtMs = atMs;
    conn.queue.push({ atMs, frame });
    conn.inflightBytes += frame.length;
    if (conn.queue.length === 1) this.#armDelivery(link, conn);
    return true;
  }

  // ---- links and connections ----

  #node(nodeId: string): SimNode {
    const node = this.#nodes.get(nodeId);
    assert(node, `unknown simulated node ${nodeId}`);
    return node;
  }

  #link(from: string, to: string): Link {
    const link = this.#links.get(linkKey(from, to));
    assert(link, `no link ${from} -> ${to}`);
    return link;
  }

  #running(nodeId: string): boolean {
    const slot = this.#nodes.get(nodeId)?.slot;
    return slot?.started === true && !slot.dead;
  }

  #retire(slot: Slot): void {
    slot.dead = true;
    slot.started = false;
    slot.onMessage = () => {};
    slot.onPeerChange = () => {};
    this.#refreshNode(slot.id);
  }

  #refreshNode(nodeId: string): void {
    for (const other of this.#nodes.keys()) {
      if (other === nodeId) continue;
      this.#refresh(this.#link(nodeId, other));
      this.#refresh(this.#link(other, nodeId));
    }
  }

  /** Brings a link's connection in line with whether it can exist now. */
  #refresh(link: Link): void {
    const senderRunning = this.#running(link.from);
    const receiverRunning = this.#running(link.to);
    if (senderRunning && receiverRunning && !link.cut) {
      if (!link.conn && !link.connectTimer) {
        const delayMs =
          2 * this.#latencyMs(link.from, link.to) +
          reconnectDelayMsMin +
          Math.floor(this.#random.next() * (reconnectDelayMsMax - reconnectDelayMsMin));
        link.connectTimer = this.#clock.setTimer(delayMs, () => {
          link.connectTimer = undefined;
          this.#connect(link);
        });
      }
      return;
    }
    link.connectTimer?.cancel();
    link.connectTimer = undefined;
    if (link.conn) {
      // A sender that went away leaves what it already sent in flight (its kernel still
      // delivers it); a cut link or a receiver that went away loses it. Deliveries check.
      if (!(receiverRunning && !link.cut)) this.#endConn(link.conn);
      link.conn = undefined;
    }
    if (senderRunning) this.#scheduleDown(link);
    else {
      link.downTimer?.cancel();
      link.downTimer = undefined;
      link.viewUp = false;
    }
  }

  #connect(link: Link): void {
    if (!(this.#running(link.from) && this.#running(link.to) && !link.cut) || link.conn) return;
    const receiver = this.#nodes.get(link.to)!.slot!;
    const sender = this.#nodes.get(link.from)!.slot!;
    link.conn = {
      receiver,
      cutEpoch: link.cutEpoch,
      dead: false,
      queue: [],
      inflightBytes: 0,
      lastAtMs: 0,
      timer: undefined,
    };
    link.downTimer?.cancel();
    link.downTimer = undefined;
    // The sender hears of a break before it hears of the connection that replaced it.
    if (link.viewUp) {
      link.viewUp = false;
      sender.onPeerChange(link.to, false);
    }
    if (!this.#running(link.from) || link.conn === undefined) return;
    link.viewUp = true;
    sender.onPeerChange(link.to, true);
  }

  /** The sender learns of a break one link delay later. */
  #scheduleDown(link: Link): void {
    if (!link.viewUp || link.downTimer) return;
    link.downTimer = this.#clock.setTimer(this.#latencyMs(link.from, link.to), () => {
      link.downTimer = undefined;
      if (!link.viewUp || link.conn) return;
      link.viewUp = false;
      const sender = this.#nodes.get(link.from)?.slot;
      if (sender?.started && !sender.dead) sender.onPeerChange(link.to, false);
    });
  }

  #endConn(conn: Conn): void {
    if (conn.dead) return;
    conn.dead = true;
    conn.timer?.cancel();
    conn.timer = undefined;
    this.#stats.dropped += conn.queue.length;
    conn.queue.length = 0;
    conn.inflightBytes = 0;
  }

  #armDelivery(link: Link, conn: Conn): void {
    const head = conn.queue[0];
    conn.timer = this.#clock.setTimer(head.atMs - this.#clock.monoMs(), () => {
      conn.timer = undefined;
      this.#deliver(link, conn);
    });
  }

  #deliver(link: Link, conn: Conn): void {
    const now = this.#clock.monoMs();
    while (conn.queue.length > 0 && conn.queue[0].atMs <= now) {
      const receiver = conn.receiver;
      const reachable = receiver.started && !receiver.dead && !link.cut && link.cutEpoch === conn.cutEpoch;
      if (conn.dead || !reachable) {
        this.#endConn(conn);
        return;
      }
      const { frame } = conn.queue.shift()!;
      conn.inflightBytes -= frame.length;
      this.#stats.delivered++;
      receiver.onMessage(link.from, decodeBody(frame.subarray(frameHeaderBytes)) as WireMessage);
    }
    if (conn.queue.length > 0 && !conn.dead) this.#armDelivery(link, conn);
  }
}

const linkKey = (from: string, to: string): string => `${from}\u0000${to}`;
const newLink = (from: string, to: string): Link => ({
  from,
  to,
  cut: false,
  cutEpoch: 0,
  conn: undefined,
  connectTimer: undefined,
  downTimer: undefined,
  viewUp: false,
});

type SimPort = {
  start(): void;
  stop(): void;
  send(peer: string, message: WireMessage): boolean;
  isUp(peer: string): boolean;
};

/** One node's view of the simulated network (see SimNetwork). */
class SimTransport implements Transport {
  readonly self: string;
  readonly #slot: Slot;
  readonly #port: SimPort;

  constructor(slot: Slot, port: SimPort) {
    this.self = slot.id;
    this.#slot = slot;
    this.#port = port;
  }

  async start(): Promise<void> {
    this.#port.start();
  }

  async stop(): Promise<void> {
    this.#port.stop();
  }

  send(peer: string, message: WireMessage): boolean {
    return this.#port.send(peer, message);
  }

  onMessage(handler: (from: string, message: WireMessage) => void): void {
    if (!this.#slot.dead) this.#slot.onMessage = handler;
  }

  onPeerChange(handler: (peer: string, up: boolean) => void): void {
    if (!this.#slot.dead) this.#slot.onPeerChange = handler;
  }

  isUp(peer: string): boolean {
    return this.#port.isUp(peer);
  }

  /** A simulated link is up or down from the start: nothing is ever "not tried yet". */
  mayBeUp(peer: string): boolean {
    return this.#port.isUp(peer);
  }
}
