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
import type { HintIndex } from "./hint-index.ts";
import type { Incarnation } from "./incarnation.ts";
import type { InternalErrors } from "./internal-errors.ts";
import type { LocalState } from "./local-state.ts";
import type { HashTrees } from "./merkle.ts";
import type { NodeMetrics } from "./node-metrics.ts";
import type { OutboundStream } from "./outbound-stream.ts";
import { rendezvousOrder } from "./partition.ts";
import type { RefillJob } from "./refill.ts";

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
  /** Per partition: replica node ids per site, in rendezvous order. */
  readonly replicas: readonly Map<string, string[]>[];
  /** Per partition: every node of this site in rendezvous order (fallbacks for hints). */
  readonly siteOrder: readonly string[][];
  /** Partitions this node replicates. */
  readonly mine: readonly number[];
  /** Every other store node of the planet. */
  readonly others: readonly string[];
  /** Key states and the outbound log, behind a cache and group commit. */
  readonly local: LocalState;
  readonly calls: Calls;
  /** Hints this node holds as a fallback, by key, for reads. */
  readonly hints: HintIndex;
  readonly antiEntropy: AntiEntropy;
  /** Outbound replication stream per peer. */
  readonly out: Map<string, OutboundStream>;
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

export type Placement = Pick<NodeContext, "replicas" | "siteOrder" | "mine" | "others">;

/** Which nodes replicate each partition, in every site, as seen from node `self` of `site`. */
export function placementOf(planet: Planet, self: string, site: string): Placement {
  const replicas: Map<string, string[]>[] = [];
  const siteOrder: string[][] = [];
  const mine: number[] = [];
  const others = planet.storeNodes.filter((n) => n.id !== self).map((n) => n.id);
  const bySite = new Map<string, string[]>();
  for (const n of planet.storeNodes) bySite.set(n.site, [...(bySite.get(n.site) ?? []), n.id]);
  const rf = planet.store.rf;
  for (let p = 0; p < planet.store.partitions; p++) {
    const byPartition = new Map<string, string[]>();
    for (const [s, nodes] of bySite) {
      const order = rendezvousOrder(p, nodes);
      byPartition.set(s, order.slice(0, rf));
      if (s === site) siteOrder[p] = order;
    }
    replicas[p] = byPartition;
    if (byPartition.get(site)?.includes(self)) mine.push(p);
  }
  return { replicas, siteOrder, mine, others };
}

/** Every replica of a partition except this node, in every site. */
export function targetsOf(node: NodeContext, partition: number): string[] {
  const out: string[] = [];
  for (const nodes of node.replicas[partition].values()) for (const n of nodes) if (n !== node.id) out.push(n);
  return out;
}

export type ReplicaResponse = { readonly state: KeyState | undefined; readonly recv: ReadonlyMap<string, number> };
