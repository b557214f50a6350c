// store: a sharded, geo-replicated, active-active key-value store whose values are CRDTs,
// kept in SQLite. Every site holds all the data; any node takes writes; consistency is
// chosen per request. See docs/store.md (manual) and docs/store-internals.md (design).

export type {
  MutateRequest,
  MutateResult,
  Mutation,
  NodeHealth,
  ReadRequest,
  ReadResponse,
  ReadResult,
  SessionToken,
  StoreApi,
  ValueType,
} from "./api-types.ts";
export {
  createStoreClient,
  type FieldChanges,
  type StoreCallOptions,
  type StoreClient,
  type StoreClientInit,
  type StoreWriteOptions,
  type StoreWriteOutcome,
} from "./client.ts";
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
  type MutationContext,
  merge,
  mutationKinds,
  mutationSize,
  mutationType,
  nextExpiryMs,
  type Op,
  type OpKind,
  read,
  validateMutation,
  validateOpId,
} from "./crdt.ts";
export { createStoreNode, StoreNode, type StoreNodeComponents, type StoreNodeInit } from "./engine.ts";
export { storeErrors } from "./errors.ts";
export { decodeBody, encodeFrame, FrameDecoder } from "./framing.ts";
export { HybridClock, hlcFromWallMs, hlcWallMs } from "./hlc.ts";
export { clusterView, createStoreHttpServer, type StoreHttpServer, type StoreHttpServerInit } from "./http-api.ts";
export { storeHttpErrors } from "./http-errors.ts";
export { storeHeaders } from "./http-headers.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./memory-storage.ts";
export { HashTrees } from "./merkle.ts";
export { partitionOf, rendezvousOrder, replicasOf } from "./partition.ts";
export { type RunningStoreNode, type StoreNodeProcessInit, startStoreNode, storeDataFile } from "./server.ts";
export { decodeSessionToken, encodeSessionToken, mergeSessionTokens } from "./session-encoding.ts";
export { SimNetwork, type SimNetworkOptions, type SimNetworkStats } from "./sim-network.ts";
export { openSqliteStorage, type SqliteStorageOptions } from "./sqlite-storage.ts";
export type { CommitBatch, KeyRow, LogAppend, LogEntry, Storage } from "./storage.ts";
export { storageErrors } from "./storage-errors.ts";
export { createTcpTransport, type TcpAddress, type TcpTransport, type TcpTransportInit } from "./tcp-transport.ts";
export type { Transport, WireMessage } from "./transport.ts";
