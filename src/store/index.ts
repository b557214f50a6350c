// store: a sharded, geo-replicated, active-active key-value store whose values are CRDTs,
// kept in SQLite. Every site holds all the data; any node takes writes; consistency is
// chosen per request. See docs/store.md (manual) and docs/store-internals.md (design).

export * as storeConstants from "./constants.ts";
export {
  type Applied,
  applyMutation,
  compact,
  decodeState,
  digest,
  effectiveDel,
  encodeState,
  expiryHlc,
  type KeyState,
  type Mutation,
  type MutationContext,
  merge,
  mutationKinds,
  mutationSize,
  mutationType,
  nextExpiryMs,
  type Op,
  type OpKind,
  type ReadResult,
  read,
  type ValueType,
  validateMutation,
  validateOpId,
} from "./crdt.ts";
export { storeErrors } from "./errors.ts";
export { HybridClock, hlcFromWallMs, hlcWallMs } from "./hlc.ts";
export { HashTrees } from "./merkle.ts";
export { partitionOf, rendezvousOrder, replicasOf } from "./partition.ts";
export type { CommitBatch, KeyRow, LogAppend, LogEntry, Storage } from "./storage.ts";
export type { Transport, WireMessage } from "./transport.ts";
