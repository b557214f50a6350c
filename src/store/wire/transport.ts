// How store nodes talk to each other. Production: persistent TCP connections with
// length-prefixed msgpack frames, batched per turn of the event loop. Simulation: a seeded
// in-memory network that delays, drops, reorders and partitions. The engine depends only
// on this interface, so a seed replays a failure.
//
// Delivery is best effort: a message may be lost when a connection breaks (the engine's
// replication streams resend from acknowledged cursors, requests time out), but messages
// from one sender to one receiver over one connection arrive in order.
import type { Startable } from "../../core/index.ts";

/** A message body: plain data that msgpack can encode (arrays, objects, numbers, strings, Uint8Array). */
export type WireMessage = readonly unknown[];

export interface Transport extends Startable {
  /** This node's id. */
  readonly self: string;
  /**
   * Queues a message to a peer. Returns false when it cannot be queued right now (peer
   * unknown, not connected and not connecting, or the queue for it is over its byte limit):
   * the caller must treat the message as lost.
   */
  send(peer: string, message: WireMessage): boolean;
  /** Sets the one handler of incoming messages. */
  onMessage(handler: (from: string, message: WireMessage) => void): void;
  /** Called when a connection to a peer is (re)established or lost. */
  onPeerChange(handler: (peer: string, up: boolean) => void): void;
  isUp(peer: string): boolean;
  /**
   * Up, or not known down yet: the first connection since start is still being made. The
   * fail-fast check of a level counts these, so a node just started does not refuse writes
   * in the moments before its connections come up (they wait in the peer's queue instead).
   */
  mayBeUp(peer: string): boolean;
}
