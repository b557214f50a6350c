// What anti-entropy (anti-entropy.ts, anti-entropy-peer.ts) needs of its node, and the
// shapes both of its sides share.
import type { Random } from "../../core/index.ts";
import type { KeyState } from "../crdt/crdt.ts";
import type { KeyDigest } from "../storage/storage.ts";
import type { WireMessage } from "../wire/transport.ts";
import type { HashTrees } from "./merkle.ts";
import type { NodeMetrics } from "./node-metrics.ts";

export type AntiEntropyDeps = {
  readonly self: string;
  readonly partitions: readonly number[];
  readonly replicasOf: (partition: number) => readonly string[];
  readonly trees: HashTrees;
  readonly random: Random;
  readonly m: NodeMetrics;
  readonly isUp: (node: string) => boolean;
  readonly send: (peer: string, message: WireMessage) => boolean;
  readonly scanDigests: (partition: number, afterKey: string | undefined, limit: number) => KeyDigest[];
  readonly stateOf: (key: string) => KeyState | undefined;
  /** Merges a peer's state; true when it changed this replica. */
  readonly mergeRemote: (key: string, partition: number, state: KeyState) => boolean;
  /**
   * A round with `peer` that started at `roundStartMs` has brought the two replicas of
   * `partition` to agree (every key either lacked reached it, both ways): membership
   * changes count these as fills, a stream that lost its log as refills.
   */
  readonly onSynced?: (peer: string, partition: number, roundStartMs: number) => void;
  /** Peers to run rounds with first (a node filling partitions, peers to refill); others in turn otherwise. */
  readonly preferPeers?: () => readonly string[];
  /** Whether a key settles (its copies are on their way through the streams): ordinary rounds leave it. */
  readonly settling?: (key: string) => boolean;
};

/** The digest an ordinary round's page names a settling key with: leave it to the streams. */
export const settlingDigest = -1;

/** Key states as anti-entropy messages carry them. */
export type StateList = [key: string, state: Uint8Array][];
