// store: a sharded, geo-replicated, active-active key-value store whose values are CRDTs,
// kept in SQLite. Every site holds all the data; any node takes writes; consistency is
// chosen per request. See docs/store.md (manual) and docs/store-internals.md (design).
export { storeErrors } from "./errors.ts";
export { decodeBody, encodeFrame, FrameDecoder } from "./framing.ts";
export { MemoryStorage, type MemoryStorageOptions } from "./memory-storage.ts";
export { SimNetwork, type SimNetworkOptions, type SimNetworkStats } from "./sim-network.ts";
export { openSqliteStorage, type SqliteStorageOptions } from "./sqlite-storage.ts";
export type { CommitBatch, KeyRow, LogAppend, LogEntry, Storage } from "./storage.ts";
export { storageErrors } from "./storage-errors.ts";
export { createTcpTransport, type TcpAddress, type TcpTransport, type TcpTransportInit } from "./tcp-transport.ts";
export type { Transport, WireMessage } from "./transport.ts";
