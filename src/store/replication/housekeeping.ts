// The node's periodic work, every `tickMs`: stream timeouts and heartbeats, stability gossip,
// dropping settled writes, an anti-entropy round, a bounded compaction sweep, and once a
// second the persisted stream cursors and the log truncated below what every peer that is not
// gone acked (peer-liveness.ts); membership changes move on (membership-sync.ts).
import type { TimerHandle } from "../../core/index.ts";
import { expireDedup } from "./dedup.ts";
import { gossipMs, tickMs } from "./engine-constants.ts";
import { dedupCatchUpTick } from "./gone-peer-dedup.ts";
import { renewLease } from "./hlc-lease.ts";
import { announce, settleNew } from "./incarnation.ts";
import { advanceMembership } from "./membership-sync.ts";
import type { NodeContext } from "./node-context.ts";
import { checkGone, truncate } from "./peer-liveness.ts";
import { refillTick } from "./refill.ts";
import { onStreamTimeout } from "./relay-out.ts";
import { gossipStability, sweepSome } from "./stability.ts";
import { pumpAll } from "./streams.ts";

/** Runs `tick` every tickMs while the node runs; `setTimer` receives each new timer. */
export function scheduleTick(node: NodeContext, setTimer: (timer: TimerHandle) => void): void {
  setTimer(
    node.clock.setTimer(tickMs, () => {
      if (node.state !== "running") return;
      try {
        tick(node);
      } catch (err) {
        node.errors.report("tick", err);
      }
      scheduleTick(node, setTimer);
    }),
  );
}

function tick(node: NodeContext): void {
  const nowMs = node.clock.monoMs();
  for (const [peer, stream] of node.out) if (stream.checkTimeout(nowMs)) onStreamTimeout(node, peer);
  pumpAll(node, true);
  checkGone(node, nowMs);
  advanceMembership(node);
  announce(node);
  settleNew(node);
  refillTick(node);
  dedupCatchUpTick(node, nowMs);
  if (nowMs - node.chores.lastGossipMs >= gossipMs) {
    node.chores.lastGossipMs = nowMs;
    gossipStability(node);
  }
  for (let i = node.pending.length - 1; i >= 0; i--) if (node.pending[i].done) node.pending.splice(i, 1);
  // Its own catch, so a failing round neither hides behind nor stops the chores after it.
  try {
    node.antiEntropy.tick(nowMs);
  } catch (err) {
    node.errors.report("anti-entropy-tick", err);
  }
  sweepSome(node);
  expireDedup(node);
  renewLease(node);
  if (nowMs - node.chores.lastTruncateMs >= 1_000) {
    node.chores.lastTruncateMs = nowMs;
    node.m.stateBytesMax.set(node.local.takeLargestStateBytes());
    saveCursors(node);
    truncate(node);
    // A hint for a node that is no longer a member has nobody to go to.
    node.hints.prune((target) => node.out.get(target)?.acked ?? Number.MAX_SAFE_INTEGER);
    node.storage.maintain();
  }
}

/**
 * Persists the streams' acknowledged cursors once a second rather than with every commit
 * (a page written per commit for nothing): after a crash a stream resends at most a
 * second of entries, which its peer merges again without effect.
 */
export function saveCursors(node: NodeContext): void {
  const cursors: [string, number][] = [];
  for (const s of node.out.values()) {
    if (node.cursorsSaved.get(s.peer) !== s.acked) {
      cursors.push([s.peer, s.acked]);
      node.cursorsSaved.set(s.peer, s.acked);
    }
  }
  if (cursors.length > 0) node.storage.commit({ cursors });
}
