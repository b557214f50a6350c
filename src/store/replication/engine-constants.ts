// Defaults and limits of the replication engine. Every queue, batch and timer is bounded
// here, and how they relate is asserted at load.
import { assert } from "../../core/index.ts";
import { frameBytesMax } from "../constants.ts";

/** Keys longer than this (UTF-8 bytes) are refused. */
export const keyBytesMax = 1024;
/** The engine's periodic housekeeping runs this often. */
export const tickMs = 50;
/** How often a coordinator asks a peer whose stream skipped entries to pull its dedup table, until it did. */
export const dedupAskEveryMs = 1_000;
/** An idle replication stream says "nothing new up to my clock" this often (drives stability). */
export const streamHeartbeatMs = 200;
/** A stream with unacknowledged batches and no progress for this long resends from its cursor. */
export const streamTimeoutMs = 1_000;
/** Unacknowledged batches in flight per peer. */
export const streamInflightMax = 8;
/** Log entries per replication batch. */
export const streamBatchEntriesMax = 256;
/**
 * Payload bytes per replication batch (a larger single entry still goes alone): a batch of
 * large values stays well inside a frame, also when a relay carries the batches of several
 * replicas in one message.
 */
export const streamBatchBytesMax = 1024 * 1024;
/** Log entries scanned per batch (entries for other peers are skipped but count here). */
export const streamScanMax = 2048;
/** Decoded key states kept in memory (most recently used); about 0.5 KiB each for small keys. */
export const stateCacheKeysMax = 65_536;
/** Recent log entries kept in memory so live streams do not read SQLite (up to twice this between trims). */
export const logTailMax = 16_384;
/** Nodes tell each other how complete their streams are this often. */
export const gossipMs = 500;
/** After a round in which every tree agreed, the next one waits this long (one that repaired goes on at once). */
export const antiEntropyIdleMs = 250;
/**
 * A key this node wrote or took from a stream this recently settles: anti-entropy leaves it
 * to the streams (settling-keys.ts), and a round that found nothing but such keys waits this
 * long before the next. Well past a batch's trip (a WAN round trip, a paced send, a commit)
 * and a stream's timeout and resend (streamTimeoutMs).
 */
export const antiEntropySettleMs = 2_000;
/** A key that keeps changing settles for this long at most; then anti-entropy compares it again. */
export const antiEntropySettleStreakMaxMs = 30_000;
/** Keys SettlingKeys remembers at most (the ones changed longest ago are forgotten first). */
export const settlingKeysMax = 100_000;
/** A round whose peer has not answered for this long is given up. */
export const antiEntropyTimeoutMs = 2_000;
/** Partitions with differing roots one reply names (each carries its 256 bucket hashes). */
export const antiEntropyDiffPartitionsMax = 16;
/** Keys (and digests) one page names, and key states one message carries. */
export const antiEntropyPageKeysMax = 1_024;
/** Keys one side scans from its disk to answer or build one page. */
export const antiEntropyScanKeysMax = 8_192;
/** Bytes of key states one message carries (a larger single state still goes alone). */
export const antiEntropyMessageBytesMax = 1024 * 1024;
/** Partitions whose pages one round has out at once (one page per partition at a time). */
export const antiEntropyPagesInflightMax = 4;
/** Pages one round exchanges before it ends (the next round starts at once). */
export const antiEntropyPagesPerRoundMax = 64;
/** The sweeper compacts at most this many changed keys (and clears as many expired ones) per tick. */
export const sweepKeysPerTick = 256;
/**
 * A changed key waits until it has been quiet this long before the sweeper looks at it
 * (stability needs a while to pass it; a key written again meanwhile is compacted by that
 * write or merge, and its wait starts again).
 */
export const sweepDelayMs = 2_000;
/** Keys remembered as needing compaction; past this, the slow full scan finds the rest. */
export const dirtyKeysMax = 1_000_000;
/** The slow full scan looks at this many keys per tick (a backstop for the dirty list). */
export const sweepScanKeysPerTick = 16;
/** Log entries not yet acknowledged by every target (hints) beyond which writes are refused. */
export const logEntriesMax = 2_000_000;
/** Op ids a node keeps in its dedup table; past this, writes are refused until expiry catches up. */
export const dedupRowsMax = 50_000_000;
/** Expired dedup rows deleted per tick (a short transaction; 20 000 a second keeps up with that write rate). */
export const dedupExpirePerTick = 1_000;
/** The answer a coordinator keeps for a retry is at most this many bytes of JSON (larger: the current value). */
export const dedupAnswerBytesMax = 4_096;
/** Keys whose hints a fallback indexes for reads (hint-index.ts); about a state each. */
export const hintKeysMax = 100_000;
/** Log entries read per page when the hint index is rebuilt at start. */
export const hintRebuildBatch = 2_048;
/** Default per-request timeouts. */
export const localTimeoutMsDefault = 2_000;
export const globalTimeoutMsDefault = 5_000;
/** Requests waiting for replicas at once; beyond this, new ones are refused (push back). */
export const pendingRequestsMax = 20_000;
/** How long a read with a session token waits for replicas to catch up before escalating. */
export const tokenWaitMs = 500;

// ---- relays (relay-out.ts, relay-in.ts)
/**
 * A relayed message stops taking legs once its entries hold this many payload bytes (every
 * leg adds at most one batch, streamBatchBytesMax or one larger entry), so it stays inside
 * a frame.
 */
export const relayMessageBytesMax = 4 * 1024 * 1024;
/**
 * A peer whose relayed stream timed out, or that its relay could not reach, gets its stream
 * directly for this long, doubling with each time again in a row (up to relayDirectMsMax)
 * until a relayed batch of it is acknowledged: a relay that does not yet know the peer (both
 * just started) costs a second of direct streaming, one cut off from it far less than a
 * relayed batch every second.
 */
export const relayDirectMsMin = 1_000;
export const relayDirectMsMax = 30_000;
/** A relay whose own leg timed out is passed over for this long (it is in doubt itself). */
export const relayPassOverMs = 10_000;
/**
 * A remote site's relayed messages leave at most once per this many ms (the first after a
 * quiet spell at once, so a lone write pays nothing): under load each message carries what
 * the site's streams gathered meanwhile, which the relay codec packs and deflates together.
 * One entry a message costs 150 bytes of WAN for a 100-byte value; eight, 110 each
 * (relay-codec.test.ts). It delays a cross-site copy under load by at most this much, a
 * tenth of the nearest demo sites' round trip; local replicas are never paced.
 */
export const relayPaceMs = 10;

assert(streamHeartbeatMs < streamTimeoutMs, "heartbeats come before a stream is declared stuck");
assert(relayPaceMs >= 0 && relayPaceMs < streamHeartbeatMs, "pacing delays a relayed batch less than a heartbeat");
assert(
  relayMessageBytesMax + 2 * streamBatchBytesMax <= frameBytesMax,
  "a relayed message, one batch over its bound and its envelope, fits a frame",
);
assert(
  relayDirectMsMin <= relayDirectMsMax && relayPassOverMs > streamTimeoutMs * 2,
  "fallbacks outlast the timeouts that caused them",
);
assert(streamBatchEntriesMax <= streamScanMax, "a batch fits in one scan");
assert(streamScanMax <= logTailMax, "a scan fits in the in-memory tail");
assert(tickMs <= streamHeartbeatMs && tickMs <= gossipMs, "the tick drives the slower timers");
assert(antiEntropyPageKeysMax <= antiEntropyScanKeysMax, "a page fits in one scan");
assert(tickMs < antiEntropyTimeoutMs, "the tick notices a stuck round");
assert(
  antiEntropySettleMs > streamTimeoutMs && antiEntropySettleMs < antiEntropySettleStreakMaxMs,
  "a key settles longer than a stream takes to resend, and a streak longer than that",
);
assert(localTimeoutMsDefault <= globalTimeoutMsDefault, "global requests may wait longer");

// ---- incarnation and refill (incarnation.ts, refill.ts)
/** Key states one refill page carries at most (pulled from a peer, or pushed to one). */
export const refillPageKeysMax = 2_048;
/** Bytes of key states one refill page carries (a larger single state still goes alone). */
export const refillPageBytesMax = 2 * 1024 * 1024;
/** (partition, peer) transfers a refilling node runs at once, one page in flight each. */
export const refillTransfersInflightMax = 16;
/** A page of a peer's dedup table in a refill (refill-dedup.ts): at most this many rows scanned… */
export const refillDedupPageRowsMax = 4_096;
/** …and this many bytes of rows sent (answers are up to dedupAnswerBytesMax each). */
export const refillDedupPageBytesMax = 2 * 1024 * 1024;
/** A refill page (or an announcement) not answered within this is asked again. */
export const refillCallTimeoutMs = 5_000;
/** An incarnation not yet confirmed by a peer that is up is announced again this often. */
export const incarnationAnnounceMs = 500;

/**
 * The bound on how long a node that (re)started holds stability back for a peer that is gone.
 * A peer's silence is counted from this node's start (it cannot know for how long a peer was
 * silent before), so without more every restart — and a rebuilt disk's refill, which waits for
 * every peer that is not gone — would hold the planet's stability point for another whole
 * store.deadPeerAfterS (600 s by default) after the others had already gone on without the
 * dead peer, while hot keys grow with nothing folding them. So a peer this node has not heard
 * from since it started, which a peer it does hear says is gone, is gone here too after this
 * long. Why 5 s: a peer that is up connects and answers an announcement within a few
 * announcement rounds (incarnationAnnounceMs) even on a loaded host, so 5 s of silence since
 * the start on top of another node's whole bound is no doubt; and it is short next to the
 * bound itself, which is what the planet already waited.
 */
export const goneByReportAfterMs = 5_000;

assert(incarnationAnnounceMs * 4 <= goneByReportAfterMs, "a peer that is up is heard from before it is taken as gone");
assert(refillPageBytesMax <= 4 * 1024 * 1024, "a refill page fits well inside a frame");
assert(refillDedupPageBytesMax <= 4 * 1024 * 1024, "a dedup refill page fits well inside a frame");
assert(gossipMs <= incarnationAnnounceMs * 2, "announcements keep pace with gossip");
