// The state of one store node that its concerns share: placement, clocks, streams, pending
// writes, stability. The engine's files (write path, read path, streams, stability, ...) are
// plain functions of this context, so each can be read on its own and the dependencies
// between them stay visible in their imports. StoreNode (store-node.ts) builds it.
import type { Clock, Logger, Random, TimerHandle } from "../../core/index.ts";
import type { Consistency, Planet } from "../../topology/index.ts";
import type { KeyState } from "../crdt/crdt.ts";
import type { HybridClock } from "../crdt/hlc.ts";
import type { Storage } from "../storage/storage.ts";
import type { Transport } from "../wire/transport.ts";
import type { AntiEntropy } from "./anti-entropy.ts";
import type { Calls } from "./calls.ts";
import type { DedupPull } from "./gone-peer-dedup.ts";
import type { HintIndex } from "./hint-index.ts";
import type { Incarnation } from "./incarnation.ts";
import type { InternalErrors } from "./internal-errors.ts";
import type { LocalState } from "./local-state.ts";
import type { Membership } from "./membership.ts";
import type { HashTrees } from "./merkle.ts";
import type { NodeMetrics } from "./node-metrics.ts";
import type { OutboundStream } from "./outbound-stream.ts";
import type { RefillJob } from "./refill.ts";
import type { RelayState } from "./relay-out.ts";

/** What a node tracks of membership and of its peers' liveness (membership-sync.ts, peer-liveness.ts). */
export type MembershipProgress = {
  /** Partitions this node fills, and the voters of its site a full anti-entropy pass has completed with. */
  fill: Map<number, Set<string>>;
  /** When every peer that is up was known to hold this epoch: passes count only if they start after it. */
  fillFromMs: number | undefined;
  /** Every node filling some partition under the current record. */
  fillers: ReadonlySet<string>;
  /** The epoch this node has filled (0: none). */
  filledEpoch: number;
  /** Per peer: the membership epoch and the filled epoch of its last stability gossip. */
  readonly epochOf: Map<string, number>;
  readonly filledOf: Map<string, number>;
  /** Per peer: when any message of it last came (monotonic ms). */
  readonly lastHeardMs: Map<string, number>;
  /** Peers not heard from for store.deadPeerAfterS: they no longer hold back truncation or GC. */
  readonly gone: Set<string>;
  /** Peers some message came from since this process started (peer-liveness.ts, goneByReportAfterMs). */
  readonly heardSinceStart: Set<string>;
  /** Per peer: the peers its last stability gossip named as gone. */
  readonly goneReports: Map<string, ReadonlySet<string>>;
  /** Log entries up to here were truncated without some peer's ack (persisted; 0: never). */
  truncatedPast: number;
  /** Peers whose stream fell below the truncated start: anti-entropy refills them; the partitions done so far. */
  readonly refill: Map<string, Set<number>>;
  /** Peers whose stream skipped entries: they must pull this node's dedup table; when they were last asked (monotonic ms). */
  readonly dedupOwed: Map<string, number>;
  /** Coordinators whose dedup table this node pulls because their streams to it skipped entries. */
  readonly dedupPulls: Map<string, DedupPull>;
};

/** A write acknowledged once its consistency level holds among `holders`. */
export type PendingWrite = {
  readonly seq: number;
  readonly targets: ReadonlySet<string>;
  readonly holders: Set<string>;
  /** Local replicas that are down whose op a fallback holds as a hint (count toward the local part only). */
  readonly hinted: Set<string>;
  readonly partition: number;
  readonly level: Consistency;
  done: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: TimerHandle;
};

export type NodeContext = {
  readonly id: string;
  readonly site: string;
  readonly planet: Planet;
  readonly storage: Storage;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  readonly hlc: HybridClock;
  readonly trees: HashTrees;
  readonly m: NodeMetrics;
  /** Failures no caller waits for: counted by reason and logged. */
  readonly errors: InternalErrors;
  /** Membership (membership.ts) and the placement it gives; replaced together when a newer record comes. */
  membership: Membership;
  /** Per partition: the voting replica node ids per site, in rendezvous order. */
  replicas: readonly Map<string, string[]>[];
  /** Per partition: every node a write reaches (voters and nodes filling it), every site. */
  targets: readonly string[][];
  /** Per partition: every node of this site in rendezvous order (fallbacks for hints). */
  siteOrder: readonly string[][];
  /** Partitions this node votes for or fills. */
  mine: readonly number[];
  /** Every other member of the planet. */
  others: readonly string[];
  /** The membership change in progress as this node sees it: fills, peers' epochs, who is gone. */
  readonly change: MembershipProgress;
  /** Called after a newer record was adopted (the process points its transport at the new peers). */
  readonly onMembership: (m: Membership) => void;
  /** Key states and the outbound log, behind a cache and group commit. */
  readonly local: LocalState;
  readonly calls: Calls;
  /** Hints this node holds as a fallback, by key, for reads. */
  readonly hints: HintIndex;
  readonly antiEntropy: AntiEntropy;
  /** Outbound replication stream per peer. */
  readonly out: Map<string, OutboundStream>;
  /** Which relay each remote site's streams go through, and which streams go direct for now (relay-out.ts). */
  readonly relay: RelayState;
  /** Per peer: the seq its stream to us is expected to continue after. */
  readonly expect: Map<string, number>;
  /** recv[C]: every op from C targeted here with log HLC <= this has been committed here. */
  readonly recv: Map<string, number>;
  /** Per peer: its own `complete` HLC, from its stability gossip. */
  readonly completeOf: Map<string, number>;
  /** The streams' acknowledged cursors as last persisted. */
  readonly cursorsSaved: Map<string, number>;
  /** The stability point: every replica has every op stamped at or before it. */
  stable: number;
  /** This data dir's incarnation, its phase, and what peers said about theirs (incarnation.ts). */
  readonly incarnation: Incarnation;
  /** The bulk refill of a new incarnation while it runs (refill.ts). */
  refill: RefillJob | undefined;
  pending: PendingWrite[];
  state: "new" | "running" | "stopped";
  /** When the periodic jobs of the tick last ran, and where the slow compaction scan is. */
  readonly chores: {
    lastGossipMs: number;
    lastTruncateMs: number;
    sweep: { partitionIndex: number; afterKey: string | undefined };
  };
};

/** Every replica of a partition except this node, in every site. */
export function targetsOf(node: NodeContext, partition: number): string[] {
  return node.targets[partition].filter((n) => n !== node.id);
}

export type ReplicaResponse = { readonly state: KeyState | undefined; readonly recv: ReadonlyMap<string, number> };
