// store: a sharded, geo-replicated, active-active key-value store whose values are CRDTs,
// kept in SQLite. Every site holds all the data; any node takes writes; consistency is
// chosen per request. See docs/store.md (manual) and docs/store-internals.md (design).

export { BinaryConnection, type BinaryRequestBody } from "./api/binary-client.ts";
export { type BinaryReply, type BinaryRequest, binaryPreface } from "./api/binary-protocol.ts";
export {
  createStoreClient,
  type FieldChanges,
  type StoreCallOptions,
  type StoreClient,
  type StoreClientInit,
  type StoreWriteOptions,
  type StoreWriteOutcome,
} from "./api/client.ts";
export { clusterView, createStoreHttpServer, type StoreHttpServer, type StoreHttpServerInit } from "./api/http-api.ts";
export { storeHttpErrors } from "./api/http-errors.ts";
export { storeHeaders } from "./api/http-headers.ts";
export {
  changeStoreMembership,
  type MembershipTarget,
  membershipViews,
  storeMembership,
} from "./api/membership-client.ts";
export { type RunningStoreNode, type StoreNodeProcessInit, startStoreNode, storeDataFile } from "./api/server.ts";
export type {
  MembershipChange,
  MembershipView,
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
export * as storeConstants from "./constants.ts";
export {
  type Applied,
  applyMutation,
  compact,
  contains,
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
} from "./crdt/crdt.ts";
export { HybridClock, hlcFromWallMs, hlcWallMs } from "./crdt/hlc.ts";
export { storeErrors } from "./errors.ts";
export {
  decodeMembership,
  initialMembership,
  type Member,
  type Membership,
  placeMembers,
} from "./replication/membership.ts";
export { HashTrees } from "./replication/merkle.ts";
export { partitionOf, rendezvousOrder, replicasOf } from "./replication/partition.ts";
export { relayOrderOf } from "./replication/relay-out.ts";
export {
  decodeSessionToken,
  encodeSessionToken,
  mergeEncodedSessionTokens,
  mergeSessionTokens,
} from "./replication/session-encoding.ts";
export { createStoreNode, StoreNode, type StoreNodeComponents, type StoreNodeInit } from "./replication/store-node.ts";
export { openSqliteStorage, type SqliteStorageOptions } from "./storage/sqlite-storage.ts";
export type { CommitBatch, KeyRow, LogAppend, LogEntry, Storage } from "./storage/storage.ts";
export { storageErrors } from "./storage-errors.ts";
export { decodeBody, encodeFrame, FrameDecoder } from "./wire/framing.ts";
export { answerReply, dialerHello, dialerProof, type HandshakeReason } from "./wire/handshake.ts";
export { createTcpTransport, type TcpAddress, type TcpTransport, type TcpTransportInit } from "./wire/tcp-transport.ts";
export type { Transport, WireMessage } from "./wire/transport.ts";
