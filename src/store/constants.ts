// Defaults and limits of the store. Every queue, buffer, batch and retry loop has a named
// maximum here, and the relations between them are asserted at load.
import { assert } from "../core/index.ts";
import { topologyConstants } from "../topology/index.ts";

// ---------------------------------------------------------------------------------------
// The HTTP API, its client and the node process (api/, and replication/session-encoding.ts).
// Keep this block together when merging.
// ---------------------------------------------------------------------------------------

// --- What a request may carry ---

/** A key is at most 1 KiB of UTF-8 (the limit). */
export const keyBytesMax = 1024;
/** A value (a register's JSON, a request's members or fields) is at most 1 MiB of JSON. */
export const valueBytesMax = 1024 * 1024;
/** Arrays and objects nest at most this deep in a value (deeper JSON would exhaust the stack when encoded). */
export const valueDepthMax = 64;
/** A field name of a map is at most this many UTF-8 bytes. */
export const fieldBytesMax = 1024;
/** Members of a set, or fields of a map, that one request may name. */
export const itemsPerRequestMax = 10_000;
/** An op id (the `Idempotency-Key`) is 1..128 visible ASCII characters. */
export const opIdBytesMax = 128;
/**
 * An op id starting with this marks a blind write (`set`, `mset`): one whose earlier values
 * nobody needs once a later one is there, and whose content is the same on every retry. Its
 * superseded blind writes are not kept until stability (crdt-compact.ts, "Blind writes"), so
 * a register or field rewritten many times a second (a site's instance registry) stays one
 * op while a dead node holds stability. docs/store.md says what a writer gives up.
 */
export const blindOpIdPrefix = "blind:";
/** A key's time to live is at most about ten years. */
export const ttlSMax = 10 * 365 * 24 * 3600;
/** What the engine gets when a request names no timeout. */
export const requestTimeoutMsDefault = 5_000;
/** The longest timeout a request may ask for (`RS-Timeout-Ms`). */
export const requestTimeoutMsMax = 60_000;
/** A session token names at most this many coordinators (the nodes a session wrote through). */
export const sessionTokenEntriesMax = 128;
/** The encoded session token (base64url of JSON) is at most this long. */
export const sessionTokenCharsMax = 20 * 1024;
/** Hex digits of the MAC that signs each entry of a session token (128 bits of HMAC-SHA256). */
export const sessionTokenMacChars = 32;
/** The longest JSON of one token entry: a quoted node id (and `/g`), `:[`, a safe integer, a quoted MAC, `]`, a comma. */
const sessionTokenEntryCharsMax = 2 + 31 + 2 + 2 + 16 + 1 + 2 + sessionTokenMacChars + 1 + 1;

// --- The HTTP server (src/store/api/http-api.ts) ---

/** A request body holds a value plus its JSON envelope and escaping slack. */
export const httpBodyBytesMax = valueBytesMax + 64 * 1024;
export const httpHeaderBytesMax = 32 * 1024;
/** Time a client has to send the request head (slowloris guard). */
export const httpHeadersTimeoutMs = 10_000;
/** Time a client has to send the whole request, body included. */
export const httpRequestTimeoutMs = 30_000;
/** An idle keep-alive connection is closed after this long. */
export const httpKeepAliveTimeoutMs = 5_000;
/** Requests on one connection before the server asks the client to reconnect. */
export const httpRequestsPerSocketMax = 10_000;
/** Connections one node accepts at once. */
export const httpConnectionsMax = 4_096;
/** Requests one node works on at once before it answers RS_ERR_STORE_OVERLOADED. */
export const httpInflightMax = 4_096;
/** On stop, in-flight requests get this long before their connections are cut. */
export const httpStopGraceMs = 2_000;
/** What `Retry-After` says when the node pushes back. */
export const httpRetryAfterS = 1;

// --- A store node process (api/server.ts, `redshirt store`) ---

/** After SIGTERM a node that has not stopped within this long exits anyway. */
export const storeStopMsMax = 10_000;

// --- Node-to-node (the rule that places the peer port next to the HTTP port) ---

/** A store node serves HTTP on `planet.ports.store` and talks to peers on the next port. */
export const storePeerPortOffset: number = 1;
export function storePeerPort(storeHttpPort: number): number {
  return storeHttpPort + storePeerPortOffset;
}

// --- The TypeScript client (src/store/api/client.ts) ---

/** Connections the client keeps to one node. */
export const clientConnectionsPerNodeMax = 16;
export const clientConnectTimeoutMs = 1_000;
/** Below the server's keep-alive timeout, so the client never reuses a socket the server is closing. */
export const clientKeepAliveTimeoutMs = 4_000;
/** Nodes one logical operation tries before it gives up (replicas first, then the rest of the site, then other sites). */
export const clientAttemptsMax = 8;
/** Part of an operation's time one attempt may take, so a hung node leaves time to try another. */
export const clientAttemptShare = 0.5;
/** The client asks for the store's membership record this often (nodes joined, left, replaced). */
export const clientMembershipRefreshMs = 15_000;
/** ...and after a failed operation, but not more often than this. */
export const clientMembershipRefreshMinMs = 1_000;
/** A node that failed to answer is tried last for this long. */
export const clientNodeDownMs = 1_000;
/** Part of an attempt's time the server gets to answer, so it can say why before the client gives up. */
export const clientServerTimeoutShare = 0.8;

assert(keyBytesMax <= valueBytesMax, "a key fits in a value's budget");
assert(httpBodyBytesMax > valueBytesMax, "a body holds a full-size value and its envelope");
assert(
  Math.ceil(((sessionTokenEntriesMax * sessionTokenEntryCharsMax + 2) * 4) / 3) <= sessionTokenCharsMax,
  "a token with the most entries fits its encoded limit",
);
assert(sessionTokenCharsMax + 4 * 1024 <= httpHeaderBytesMax, "a full session token fits in the request head");
assert(sessionTokenEntriesMax >= topologyConstants.storeNodesPerSiteMax * 2, "a session can fail over once");
assert(httpHeadersTimeoutMs <= httpRequestTimeoutMs, "the head arrives within the request timeout");
assert(requestTimeoutMsDefault <= requestTimeoutMsMax, "the default timeout is allowed");
assert(clientKeepAliveTimeoutMs < httpKeepAliveTimeoutMs, "the client drops idle sockets before the server does");
assert(httpInflightMax >= 1 && httpConnectionsMax >= 1 && clientAttemptsMax >= 2, "limits allow work and failover");
assert(clientAttemptShare > 0 && clientAttemptShare <= 0.5, "an attempt leaves time for a second one");
assert(clientServerTimeoutShare > 0 && clientServerTimeoutShare < 1, "the server answers before the client gives up");
assert(storeStopMsMax > httpStopGraceMs, "a stopping node gives requests in flight their grace first");
assert(storePeerPortOffset !== 0, "the peer port differs from the HTTP port");

// ---------------------------------------------------------------------------------------
// The data model: CRDT values, clocks, partitions, hash trees (crdt/, and
// replication/partition.ts, replication/merkle.ts). Keep this block together when merging.
// Key, value, field, op id and TTL limits are the ones above.
// ---------------------------------------------------------------------------------------

/** Logical ticks per wall-clock millisecond in a hybrid logical clock (HLC = wallMs * 1024 + logical). */
export const hlcLogicalPerMs = 1024;
/** A remote HLC further ahead of the local wall clock than this is ignored (and counted), so one bad clock cannot drag every node into the future. */
export const hlcMaxDriftMs = 60_000;
/** A remote stamp more than this ahead of our wall clock is taken but counted (a peer's clock runs fast). */
export const hlcAheadCountMs = 1_000;
/** The HLC lease: the node persists a ceiling this far ahead of its wall clock and never stamps past it. */
export const hlcLeaseMs = 2_000;
/**
 * When the HLC already runs past wall + lease (a restart resumed at the last ceiling, a peer
 * ahead), the ceiling goes only this far past the HLC: a lease on top of an HLC that is
 * itself a lease ahead would let every restart push the planet's HLC a lease further ahead.
 */
export const hlcLeaseStepMs = 100;
/** The lease is renewed (one small commit, from the tick) once less than this is left of it. */
export const hlcLeaseRenewMs = 1_000;
assert(
  hlcLeaseRenewMs < hlcLeaseMs && hlcLeaseRenewMs >= 200,
  "the lease is renewed well before it runs out, not every tick",
);

/** Largest set member, in UTF-8 bytes. */
export const memberBytesMax = 1024;
/** Most set members one mutation may add or remove. */
export const membersPerMutationMax = 1024;
/** Most map fields one mutation may write, increment or delete. */
export const fieldsPerMutationMax = 1024;
/** Most live set members or map fields in one key. */
export const elementsPerKeyMax = 65_536;
/** Deepest nesting of a JSON value. */
export const jsonDepthMax = 64;

/** Newest version byte in front of an encoded KeyState (one that needs nothing newer is written as 2); older versions stay decodable. */
export const stateFormatVersion = 3;
/** Buckets per partition in the anti-entropy hash trees. */
export const treeBuckets = 256;

// Year 2200 in ms, plus the longest TTL, still an exact HLC.
assert(Number.isSafeInteger((7_258_118_400_000 + ttlSMax * 1000) * hlcLogicalPerMs), "HLCs stay safe integers");
assert(memberBytesMax <= valueBytesMax && fieldBytesMax <= valueBytesMax, "an element fits in a value");
assert(opIdBytesMax < keyBytesMax, "op ids are shorter than keys");
assert(
  membersPerMutationMax <= elementsPerKeyMax && fieldsPerMutationMax <= elementsPerKeyMax,
  "one mutation fits a key",
);
assert(treeBuckets === 256, "bucketOf takes the top 8 bits of a key hash");

// ---------------------------------------------------------------------------------------
// Durable storage and node-to-node transport (storage/, wire/, and their simulated twins
// testkit/memory-storage.ts, testkit/sim-network.ts). Keep this block together when merging.
// ---------------------------------------------------------------------------------------

/** On-disk schema version (PRAGMA user_version); a file with a newer one is refused. */
export const storageSchemaVersion = 2;
/** PRAGMA application_id of a redshirt data file ("RSHT"), so a foreign SQLite file is refused. */
export const sqliteApplicationId = 0x52534854;
/** SQLite page cache per node: 64 MiB (the prototype measured a larger cache as a clear win). */
export const sqliteCacheKiB = 65_536;
/** Page size of a new data file (sqlite-file.ts says why small); an older file keeps its own. */
export const sqlitePageBytes = 1024;
/** Memory-mapped I/O window: 256 MiB. */
export const sqliteMmapBytes = 268_435_456;
/** maintain() runs a TRUNCATE checkpoint (which may stall) only once the WAL file is past this. */
export const walBytesTruncateMin = 67_108_864;
/** SQLite truncates the WAL file back to this size when it restarts it from the beginning. */
export const walBytesKeep = 16_777_216;
/** How long SQLite waits for a lock held by someone else (e.g. an operator's sqlite3 shell). */
export const sqliteBusyTimeoutMs = 1_000;
/** Safety net: commit() runs maintain() itself after this many commits without one. */
export const commitsPerMaintainMax = 5_000;
/** The largest `limit` a read (scanPartition, expired, readLog) accepts. */
export const storageReadRowsMax = 100_000;

/** Version carried in the hello frame that opens every node-to-node connection (2: the planet-secret handshake). */
export const wireVersion = 2;
/** Random bytes each side of a connection contributes to its handshake (wire/handshake.ts). */
export const helloNonceBytes = 16;
/** A handshake refused from one address is logged at most once per this interval (the rest are counted). */
export const peerAuthLogIntervalMs = 60_000;
/** Addresses whose refused handshakes are tracked for that rate limit; the oldest is forgotten first. */
export const peerAuthLogAddressesMax = 1_024;
/** Bytes of the big-endian length prefix in front of every frame. */
export const frameHeaderBytes = 4;
/** The largest frame body; a peer that announces more is cut off. Far above the 1 MiB value limit. */
export const frameBytesMax = 8_388_608;
/** Until its hello is read, a connection may send frames of at most this size (nobody allocates 8 MiB for a stranger). */
export const helloBytesMax = 1_024;
/** Bytes queued towards one peer (not yet written, or written but not yet taken by the kernel). */
export const sendQueueBytesMax = 33_554_432;
/** Reconnect back-off: the first retry waits about this long, doubling per failure... */
export const reconnectDelayMsMin = 10;
/** ...up to this cap. Each delay is jittered to between half and all of its value. */
export const reconnectDelayMsMax = 1_000;
/** A dial that has not got the peer's hello back within this is abandoned and retried. */
export const connectTimeoutMs = 2_000;
/** Each outbound connection pings its peer this often; the peer answers with a pong. */
export const pingIntervalMs = 1_000;
/** A connection that has heard nothing from the other side for this long is closed. */
export const peerSilenceMsMax = 5_000;
/** TCP keep-alive probes start after this much idle time (a second line behind the pings). */
export const keepAliveInitialDelayMs = 1_000;
/** Inbound node-to-node connections one node accepts (32 sites x 32 nodes, twice over). */
export const inboundConnectionsMax = 2_048;

/** Simulated network: default one-way delay of a link, and the default added random jitter. */
export const simLatencyMsDefault = 1;
export const simJitterMsDefault = 0;

assert(frameBytesMax + frameHeaderBytes <= sendQueueBytesMax, "one largest frame fits a peer's send queue");
assert(frameBytesMax < 2 ** 32, "a frame length fits the 32-bit prefix");
assert(helloBytesMax < frameBytesMax, "a hello is a small frame");
assert(helloNonceBytes >= 16, "a handshake nonce never repeats in practice");
assert(frameBytesMax >= 4 * 1_048_576, "a frame carries a largest value (1 MiB) with room to spare");
assert(reconnectDelayMsMin > 0 && reconnectDelayMsMin <= reconnectDelayMsMax, "back-off bounds are ordered");
assert(pingIntervalMs * 2 <= peerSilenceMsMax, "a live peer answers at least twice before it is declared silent");
assert(connectTimeoutMs <= peerSilenceMsMax, "a dial gives up before a silent peer would be cut");
assert(walBytesKeep <= walBytesTruncateMin, "the WAL kept after a restart is below the truncate bound");
assert(sqliteCacheKiB * 1024 <= sqliteMmapBytes, "the mmap window covers at least the page cache");

// --- The binary client protocol (src/store/api/binary-api.ts, binary-client.ts) ---

/** A binary frame holds a request as large as an HTTP body, plus its envelope. */
export const binaryFrameBytesMax = httpBodyBytesMax + 4 * 1024;
/** Requests one binary connection may have in flight; more are answered RS_ERR_STORE_OVERLOADED. */
export const binaryInflightPerConnectionMax = 1_024;
/** Replies a node buffers for a client that does not read them before it stops reading that client. */
export const binaryWriteBufferBytesMax = 8 * 1024 * 1024;
/** A binary connection with nothing in flight for this long is closed (the client dials again). */
export const binaryConnectionIdleMs = 60_000;
/** The client closes a binary connection idle this long, before the node would (no request races the close). */
export const binaryClientIdleMs = 50_000;
assert(binaryClientIdleMs < binaryConnectionIdleMs, "the client drops idle binary connections before the node does");
/** At most one log line about bad binary frames this often (the counter counts every one). */
export const binaryLogIntervalMs = 10_000;
/** Requests the client queues for a connection that is still dialing or full before it refuses more. */
export const binaryClientQueueMax = 16_384;
