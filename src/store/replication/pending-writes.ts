// Writes waiting for their consistency level. A write is held by this node once committed;
// each replica that acknowledges the log entry (or a fallback that took a hint for a down
// local replica, which counts toward the local part of the level only) becomes a holder, and
// the write settles once `levelMet` says the holders suffice, or fails with
// RS_ERR_STORE_CONSISTENCY at its timeout.
import type { Consistency } from "../../topology/index.ts";
import { encodeState, type KeyState } from "../crdt/crdt.ts";
import { storeErrors } from "../errors.ts";
import type { NodeContext, PendingWrite } from "./node-context.ts";
import { levelMet } from "./quorum.ts";

/** Resolves once the write of log entry `seq` meets `level`, or rejects at `timeoutMs`. */
export function awaitLevel(
  node: NodeContext,
  seq: number,
  partition: number,
  targets: readonly string[],
  level: Consistency,
  timeoutMs: number,
  delta: KeyState,
  key: string,
): Promise<void> {
  const replicas = node.replicas[partition];
  const holders = new Set<string>([node.id]);
  // A peer may have acknowledged the entry before this write started to wait (its ack came
  // in the same turn as the commit): it holds the op already.
  for (const t of targets) if ((node.out.get(t)?.acked ?? 0) >= seq) holders.add(t);
  if (levelMet(level, replicas, node.site, holders)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const pw: PendingWrite = {
      seq,
      targets: new Set(targets),
      holders,
      hinted: new Set(),
      partition,
      level,
      done: false,
      resolve,
      reject,
      timer: node.clock.setTimer(timeoutMs, () =>
        settle(
          pw,
          storeErrors.create(
            "RS_ERR_STORE_CONSISTENCY",
            `${level} not met within ${timeoutMs} ms (held by ${[...pw.holders].join(", ")})`,
          ),
        ),
      ),
    };
    node.pending.push(pw);
    hintForDownReplicas(node, pw, key, delta);
  });
}

/** Sloppy quorum: a fallback node of this site holds the op for each local replica that is down. */
function hintForDownReplicas(node: NodeContext, pw: PendingWrite, key: string, delta: KeyState): void {
  const local = node.replicas[pw.partition].get(node.site) ?? [];
  const fallbacks = node.siteOrder[pw.partition].filter(
    (n) => !local.includes(n) && n !== node.id && node.transport.isUp(n),
  );
  let next = 0;
  for (const replica of local) {
    if (replica === node.id || node.transport.isUp(replica) || next >= fallbacks.length) continue;
    const fallback = fallbacks[next++];
    const callId = node.calls.call((reply) => {
      if (reply[0] !== "hinted" || pw.done) return;
      pw.hinted.add(replica);
      if (levelMet(pw.level, node.replicas[pw.partition], node.site, pw.holders, pw.hinted)) settle(pw);
    });
    node.transport.send(fallback, ["hint", callId, pw.partition, key, encodeState(delta), replica]);
  }
}

export function addHolder(node: NodeContext, pw: PendingWrite, holder: string): void {
  if (pw.done) return;
  pw.holders.add(holder);
  if (levelMet(pw.level, node.replicas[pw.partition], node.site, pw.holders, pw.hinted)) settle(pw);
}

export function settle(pw: PendingWrite, err?: Error): void {
  if (pw.done) return;
  pw.done = true;
  pw.timer.cancel();
  if (err) pw.reject(err);
  else pw.resolve();
}
