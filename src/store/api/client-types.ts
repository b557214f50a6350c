// The store client's public shapes: what it is given, what each call takes and answers.
import type { Consistency, Planet } from "../../topology/index.ts";
import type { Mutation, ReadResult } from "../api-types.ts";

export type StoreClientInit = {
  readonly planet: Planet;
  /** The site whose store nodes this client talks to (normally the one it runs in). */
  readonly site: string;
  /** The default level of every request; the planet's `store.consistency` when absent. */
  readonly consistency?: Consistency;
  /** The time one operation may take, failovers included. */
  readonly timeoutMs?: number;
  /** A session token from an earlier client (e.g. kept in a cookie), to read its writes. */
  readonly session?: string;
  /**
   * How to talk to the nodes: "binary" (default) multiplexes every request to a node over one
   * connection of the binary protocol (api/binary-protocol.ts); "http" uses pooled HTTP/1.1
   * connections, one request in flight each, as curl and other languages do.
   */
  readonly protocol?: "binary" | "http";
};

export type StoreCallOptions = { readonly consistency?: Consistency; readonly timeoutMs?: number };

export type StoreWriteOptions = StoreCallOptions & {
  /** Seconds until the key expires. */
  readonly ttlS?: number;
  /** The op id; a random one when absent. Pass your own to make a retry of yours apply once. */
  readonly opId?: string;
};

/** Options of a write whose caller does not want the value back. */
export type AckOption = { readonly ackOnly?: boolean };

export type StoreWriteOutcome = {
  readonly value: ReadResult;
  /** True when the op id had already been applied. */
  readonly duplicate: boolean;
  readonly opId: string;
  /** The node that answered. */
  readonly node: string;
};

export type FieldChanges = {
  readonly set?: Readonly<Record<string, unknown>>;
  readonly incr?: Readonly<Record<string, number>>;
  readonly remove?: readonly string[];
};

export interface StoreClient {
  /** Reads a key; `exists` is false when it is absent. */
  get(key: string, options?: StoreCallOptions): Promise<ReadResult>;
  /** Sets a register to any JSON value; returns the value the key holds afterwards. */
  set(key: string, value: unknown, options?: StoreWriteOptions): Promise<unknown>;
  /** Sets a register; resolves once the write is acknowledged at the level, without the value back (less to send). */
  put(key: string, value: unknown, options?: StoreWriteOptions): Promise<void>;
  /** Adds to a counter; returns its new total. */
  incr(key: string, by?: number, options?: StoreWriteOptions): Promise<number>;
  /** Adds members to a set; returns its members. */
  add(key: string, members: readonly string[], options?: StoreWriteOptions): Promise<string[]>;
  /** Removes the members of a set that this node has seen; returns its members. */
  remove(key: string, members: readonly string[], options?: StoreWriteOptions): Promise<string[]>;
  /**
   * Changes fields of a map: `set` registers, `incr` counters, `remove` fields. Each part
   * given is its own op (applied in that order, each idempotent), not one atomic change.
   */
  fields(key: string, changes: FieldChanges, options?: StoreWriteOptions): Promise<Record<string, unknown>>;
  /** Deletes a key of any type. */
  del(key: string, options?: StoreWriteOptions): Promise<void>;
  /** Any one mutation, with the full outcome. */
  mutate(key: string, mutation: Mutation, options?: StoreWriteOptions): Promise<StoreWriteOutcome>;
  /** The session token to keep (e.g. in a cookie) and give to a later client; undefined before any request. */
  readonly session: string | undefined;
  /**
   * A view with a session token of its own (e.g. one user's, from a cookie), sharing this
   * client's connections and node health: cheap enough to make one per request of a
   * server with many users. Its `session` is the token advanced by its own requests;
   * closing it closes only the view.
   */
  withSession(session: string | undefined): StoreClient;
  /**
   * Merges a token an earlier answer gave (e.g. one kept beside an idempotent answer) into
   * this client's, so its reads see those writes too. RS_ERR_STORE_BAD_SESSION when malformed.
   */
  observeSession(session: string): void;
  /**
   * The nodes the client sends to: the planet file's at first (epoch -1), then the store's
   * membership record, refreshed every clientMembershipRefreshMs and after an operation no
   * node answered; how many refreshes worked and failed, and why the last one failed.
   */
  membershipStatus(): ClientMembershipStatus;
  /** Asks for the membership record now (at most one request at a time; never throws). */
  refreshMembership(): Promise<void>;
  close(): Promise<void>;
}

export type ClientMembershipStatus = {
  readonly epoch: number;
  readonly nodes: readonly string[];
  readonly refreshes: number;
  readonly refreshFailures: number;
  readonly lastFailure: string | undefined;
};
