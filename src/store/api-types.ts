// What a store node offers to the outside (its HTTP API, the CLI, tests): the contract
// between the replication engine and the HTTP front end.
import type { Consistency } from "../topology/index.ts";

/** A mutation of one key's value; see docs/store.md for the semantics of each. */
export type Mutation = (
  | { readonly kind: "set"; readonly value: unknown }
  | { readonly kind: "incr"; readonly by: number }
  | { readonly kind: "sadd"; readonly members: readonly string[] }
  | { readonly kind: "srem"; readonly members: readonly string[] }
  | { readonly kind: "mset"; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly kind: "mincr"; readonly fields: Readonly<Record<string, number>> }
  | { readonly kind: "mdel"; readonly fields: readonly string[] }
  | { readonly kind: "del" }
) & { readonly ttlS?: number };

export type ValueType = "reg" | "counter" | "set" | "map";

export type ReadResult = { readonly exists: boolean; readonly type?: ValueType; readonly value?: unknown };

/**
 * Read-your-writes across a failover: per coordinating node, the HLC of the session's last
 * write through it. Encoded for clients as an opaque base64url string (a cookie value).
 */
export type SessionToken = Readonly<Record<string, number>>;

export type MutateRequest = {
  readonly key: string;
  readonly mutation: Mutation;
  /** The idempotency id: applying the same id twice has the effect of once. */
  readonly opId: string;
  readonly consistency: Consistency;
  readonly token?: SessionToken;
  readonly timeoutMs?: number;
};

export type MutateResult = {
  readonly value: ReadResult;
  /** True when this op id had already been applied (nothing changed this time). */
  readonly duplicate: boolean;
  readonly token: SessionToken;
};

export type ReadRequest = {
  readonly key: string;
  readonly consistency: Consistency;
  readonly token?: SessionToken;
  readonly timeoutMs?: number;
};

export type ReadResponse = { readonly value: ReadResult; readonly token: SessionToken };

export type NodeHealth = {
  readonly node: string;
  readonly site: string;
  readonly ok: boolean;
  /** Peers this node currently has a connection to. */
  readonly peersUp: readonly string[];
  readonly peersDown: readonly string[];
  readonly hintsPending: number;
  readonly stableLagMs: number;
  /**
   * This data dir's incarnation: "refilling" while a dir created empty is filled from the
   * peers (reads are forwarded while it is `reborn` and not pulled yet), then "sound"; with
   * the refill's figures (keys, ms; -1 until reached).
   */
  readonly incarnation?: {
    readonly id: string;
    readonly phase: "new" | "refilling" | "sound";
    readonly reborn: boolean;
    readonly keysPulled: number;
    readonly keysPushed: number;
    readonly pulledMs: number;
    readonly tookMs: number;
  };
};

import type { MembershipChange } from "./replication/membership.ts";

export type { MembershipChange };

/** What `GET /v1/membership` shows: the record, and how far a change in progress has come on this node. */
export type MembershipView = {
  readonly node: string;
  readonly epoch: number;
  readonly changing: boolean;
  readonly members: readonly {
    readonly id: string;
    readonly site: string;
    readonly host: string;
    readonly port: number;
    readonly state: "active" | "joining" | "leaving";
  }[];
  /** Partitions this node still fills, and the epoch it has filled. */
  readonly fillPartitions: number;
  readonly filledEpoch: number;
  /** Peers gone for longer than store.deadPeerAfterS: replace them. */
  readonly gone: readonly { readonly peer: string; readonly silentS: number }[];
  readonly logEntries: number;
};

/** The engine as the HTTP front end sees it. */
export interface StoreApi {
  mutate(request: MutateRequest): Promise<MutateResult>;
  read(request: ReadRequest): Promise<ReadResponse>;
  health(): NodeHealth;
  /** Prometheus text exposition of this node's metrics. */
  metricsText(): string;
  /**
   * The anti-entropy root hash of every partition this node replicates (0 for the others):
   * replicas whose roots agree hold the same data. `GET /v1/trees` serves it.
   */
  treeRoots(): readonly number[];
  /** The membership record this node holds (`GET /v1/membership`). */
  membership?(): MembershipView;
  /** Starts a membership change from this node's record (`POST /v1/membership`, `redshirt store join|leave|replace`). */
  changeMembership?(change: MembershipChange): MembershipView;
}
