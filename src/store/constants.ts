// Defaults and limits of the store. Every queue, buffer, batch and retry loop has a named
// maximum here, and the relations between them are asserted at load.
import { assert } from "../core/index.ts";

// ---------------------------------------------------------------------------------------
// Durable storage and node-to-node transport (sqlite-storage.ts, memory-storage.ts,
// framing.ts, tcp-transport.ts, sim-network.ts). Keep this block together when merging.
// ---------------------------------------------------------------------------------------

/** On-disk schema version (PRAGMA user_version); a file with a newer one is refused. */
export const storageSchemaVersion = 1;
/** PRAGMA application_id of a redshirt data file ("RSHT"), so a foreign SQLite file is refused. */
export const sqliteApplicationId = 0x52534854;
/** SQLite page cache per node: 64 MiB (the prototype measured a larger cache as a clear win). */
export const sqliteCacheKiB = 65_536;
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

/** Version carried in the hello frame that opens every node-to-node connection. */
export const wireVersion = 1;
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
assert(frameBytesMax >= 4 * 1_048_576, "a frame carries a largest value (1 MiB) with room to spare");
assert(reconnectDelayMsMin > 0 && reconnectDelayMsMin <= reconnectDelayMsMax, "back-off bounds are ordered");
assert(pingIntervalMs * 2 <= peerSilenceMsMax, "a live peer answers at least twice before it is declared silent");
assert(connectTimeoutMs <= peerSilenceMsMax, "a dial gives up before a silent peer would be cut");
assert(walBytesKeep <= walBytesTruncateMin, "the WAL kept after a restart is below the truncate bound");
assert(sqliteCacheKiB * 1024 <= sqliteMmapBytes, "the mmap window covers at least the page cache");
