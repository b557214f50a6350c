// The Prometheus metrics of one store node: what operators watch (ops, latency, lag, hints,
// repairs, compaction, disk). Defined in one place so every concern of the engine counts
// into the same registry, and rendered with the gauges that are sampled only when scraped.
import type { Registry } from "../../core/index.ts";
import { hlcWallMs } from "../crdt/hlc.ts";
import type { NodeContext } from "./node-context.ts";

export type NodeMetrics = ReturnType<typeof createNodeMetrics>;

export function createNodeMetrics(metrics: Registry) {
  return {
    ops: metrics.counter("redshirt_store_ops_total", "Client operations by kind, consistency and outcome."),
    latency: metrics.histogram("redshirt_store_op_latency_ms", "Client operation latency in ms."),
    replicated: metrics.counter("redshirt_store_replicated_entries_total", "Log entries applied from peers."),
    conflicts: metrics.counter(
      "redshirt_store_conflicts_merged_total",
      "Remote states or ops merged that changed the local value.",
    ),
    repairs: metrics.counter("redshirt_store_repairs_total", "Keys repaired, by read repair or anti-entropy."),
    hints: metrics.gauge("redshirt_store_hints_pending", "Log entries some target has not acknowledged yet."),
    lag: metrics.gauge("redshirt_store_replication_lag_ms", "How far behind now each peer site's streams are."),
    stableLag: metrics.gauge("redshirt_store_stable_lag_ms", "How far the stability point lags behind now."),
    dedupCatchUps: metrics.counter(
      "redshirt_store_dedup_catch_ups_total",
      "Pulls of a coordinator's dedup table begun because its stream to this node skipped entries (this node was gone for good and came back).",
    ),
    tombstones: metrics.counter(
      "redshirt_store_keys_dropped_total",
      "Keys whose tombstones were dropped at stability.",
    ),
    compactions: metrics.counter("redshirt_store_compactions_total", "Key states compacted at stability."),
    walBytes: metrics.gauge("redshirt_store_storage_bytes", "Bytes used by this node's SQLite files."),
    commits: metrics.counter(
      "redshirt_store_commits_total",
      "SQLite commits (group commits: one per turn of the event loop).",
    ),
    dedupHits: metrics.counter(
      "redshirt_store_dedup_hits_total",
      "Writes recognised as retries by the dedup table, by where the op id came from (coordinated here or learned from a peer).",
    ),
    dedupExpired: metrics.counter("redshirt_store_dedup_expired_total", "Dedup rows deleted once past the window."),
    dedupRows: metrics.gauge("redshirt_store_dedup_rows", "Op ids kept in the dedup table."),
    commitFailures: metrics.counter(
      "redshirt_store_commit_failures_total",
      "Group commits that failed (disk full, I/O error); nothing of them was applied.",
    ),
    hlcLease: metrics.counter(
      "redshirt_store_hlc_lease_commits_total",
      "HLC lease ceilings persisted, by why (start, renew from the tick, ahead: a stamp would have passed it).",
    ),
    hlcLeaseFailures: metrics.counter(
      "redshirt_store_hlc_lease_failures_total",
      "HLC lease renewals that failed to commit (stamps stop at the old ceiling).",
    ),
    hlcRemote: metrics.gauge(
      "redshirt_store_hlc_remote_stamps",
      "Remote HLC stamps by kind: rejected (beyond the drift limit, or malformed), ahead (taken, but over 1 s ahead of this wall clock).",
    ),
    stateBytesMax: metrics.gauge(
      "redshirt_store_key_state_bytes_max",
      "The largest key state this node committed in the last second, in bytes: a hot key growing without bound says compaction does not keep up (the stability point stands still).",
    ),
    committedKeys: metrics.counter("redshirt_store_committed_keys_total", "Key states written by those commits."),
    refilling: metrics.gauge(
      "redshirt_store_refilling",
      "1 while this node is a new incarnation (its data dir was created empty) not yet refilled from its peers.",
    ),
    refillKeys: metrics.counter(
      "redshirt_store_refill_keys_total",
      "Key states moved by the bulk refill of a new incarnation, by direction (pull, push here; served, received by its peers); dedup rows kept (dedup) and sent (dedup-served).",
    ),
    peerRebirths: metrics.counter(
      "redshirt_store_peer_rebirths_total",
      "Peers that came back as a new incarnation (an empty data dir under a known node id).",
    ),
    internalErrors: metrics.counter(
      "redshirt_store_internal_errors_total",
      "Failures no caller waits for (bad peer messages, failed hint commits, failed chores), by reason.",
    ),
    membershipEpoch: metrics.gauge(
      "redshirt_store_membership_epoch",
      "The epoch of the membership record this node holds.",
    ),
    fillPartitions: metrics.gauge(
      "redshirt_store_fill_partitions",
      "Partitions this node must still fill (a node joining or taking over a leaving node's share) before it votes.",
    ),
    peerGoneSeconds: metrics.gauge(
      "redshirt_store_peer_gone_seconds",
      "Peers not heard from for longer than store.deadPeerAfterS, by peer: how long (they no longer hold back log truncation or GC; replace them).",
    ),
    goneByReport: metrics.counter(
      "redshirt_store_peers_gone_by_report_total",
      "Peers taken as gone before store.deadPeerAfterS had passed here: silent since this node started, and its peers said they are gone (so a restarted or rebuilt node does not hold stability back for another whole bound).",
    ),
    streamRefills: metrics.counter(
      "redshirt_store_stream_refills_total",
      "Streams whose peer's cursor was below the truncated log start: the peer is refilled by anti-entropy instead.",
    ),
    relayBatches: metrics.counter(
      "redshirt_store_relay_batches_total",
      "Stream batches of a remote site's replicas sent together to its relay (role sent), and relayed batches passed on to this site's other replicas (role passed).",
    ),
    relayEntryBytes: metrics.counter(
      "redshirt_store_relay_entry_bytes_total",
      "Bytes of log entries in relayed batches, as logged (form raw: keys and payloads) and as sent once encoded (form encoded, deflated when smaller).",
    ),
    relayChanges: metrics.counter(
      "redshirt_store_relay_changes_total",
      "Times the relay this node streams a remote site through changed (it went down or was passed over, or came back; none: every stream of the site direct).",
    ),
    relayFallbacks: metrics.counter(
      "redshirt_store_relay_fallbacks_total",
      "Streams sent direct for a while because their relay did not get them through (reason unreachable: the relay said so; timeout), and relays passed over because their own stream timed out (relay-timeout).",
    ),
    relayLegsDropped: metrics.counter(
      "redshirt_store_relay_legs_dropped_total",
      "Legs of relayed batches not taken: built for another incarnation of this node (incarnation), from a coordinator that is not a member (unknown-coordinator), or for a replica this relay could not reach (unreachable).",
    ),
    logTruncatedSeq: metrics.gauge("redshirt_store_log_truncated_seq", "The log is truncated up to this seq."),
    aeRounds: metrics.counter(
      "redshirt_store_anti_entropy_rounds_total",
      "Anti-entropy rounds this node started, by outcome (agreed, repaired, capped, timeout, settling: every difference was a key still on its way through the streams).",
    ),
    aePages: metrics.counter("redshirt_store_anti_entropy_pages_total", "Anti-entropy key pages exchanged."),
    aeBucketMismatches: metrics.counter(
      "redshirt_store_anti_entropy_bucket_mismatches_total",
      "Hash-tree buckets found to differ from a peer's.",
    ),
    aeKeys: metrics.counter(
      "redshirt_store_anti_entropy_keys_total",
      "Key states sent to or received from peers by anti-entropy, by direction (sent, received; left-settling: differing keys this node as the comparing peer left to the streams).",
    ),
  };
}

/** Samples the gauges that are only read at scrape time, then renders the whole registry. */
export function renderNodeMetrics(node: NodeContext, metrics: Registry): string {
  const m = node.m;
  m.hints.set(node.storage.logLength());
  m.walBytes.set(node.storage.sizeBytes());
  m.dedupRows.set(node.storage.dedupCount());
  m.hlcRemote.set(node.hlc.rejected, { kind: "rejected" });
  m.hlcRemote.set(node.hlc.ahead, { kind: "ahead" });
  const nowMs = node.clock.nowMs();
  m.stableLag.set(node.stable === 0 ? -1 : nowMs - hlcWallMs(node.stable));
  const bySite = new Map<string, number>();
  for (const n of node.membership.members) {
    if (n.id === node.id) continue;
    const lagMs = nowMs - hlcWallMs(node.recv.get(n.id) ?? 0);
    bySite.set(n.site, Math.max(bySite.get(n.site) ?? 0, lagMs));
  }
  for (const [site, lagMs] of bySite) m.lag.set(lagMs, { peer_site: site });
  return metrics.render();
}
