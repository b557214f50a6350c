// The write path of a coordinator: check the request, forward it when this node is not a
// replica of the key, stamp the mutation with the HLC and apply it to the (compacted) state,
// stage the new state and a log entry of its delta for the group commit, and wait for the
// consistency level. A retry of an op this replica already holds is answered with the value
// and sends the whole state again through this node's log, so the level — and a session
// token naming this node — holds for the retry too.
import type { TimerHandle } from "../../core/index.ts";
import type { Consistency } from "../../topology/index.ts";
import type { MutateRequest, MutateResult, ReadResult } from "../api-types.ts";
import { applyMutation, digest, encodeState, type KeyState, read as readValue } from "../crdt/crdt.ts";
import { storeErrors } from "../errors.ts";
import { checkDedupRoom, checkKey, checkLoad, checkReachable, checkRunning, defaultTimeoutMs } from "./checks.ts";
import { coordinatorRow } from "./dedup.ts";
import { forward } from "./forward.ts";
import { historyHolderNow } from "./incarnation.ts";
import { type NodeContext, targetsOf } from "./node-context.ts";
import { awaitLevel } from "./pending-writes.ts";
import { levelMet } from "./quorum.ts";
import { mergeSessionTokens } from "./session-encoding.ts";
import { tokenEntryOf } from "./session-token.ts";
import { compactAt, settleMerged } from "./settled.ts";

export async function mutate(node: NodeContext, request: MutateRequest, forwarded: boolean): Promise<MutateResult> {
  checkRunning(node);
  const partition = checkKey(node, request.key, request.consistency);
  if (typeof request.opId !== "string" || request.opId.length === 0 || request.opId.length > 256) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "opId must be a string of 1 to 256 characters");
  }
  const replicas = node.replicas[partition];
  const local = replicas.get(node.site) ?? [];
  if (!local.includes(node.id)) {
    if (forwarded) throw storeErrors.create("RS_ERR_STORE_UNAVAILABLE", "forwarded to a node that is not a replica");
    return (await forward(node, local, "m", request)) as MutateResult;
  }
  if (!forwarded && node.incarnation.phase === "refilling" && !node.incarnation.pulled) {
    // This node lost its disk and its dedup table is still being pulled (refill-dedup.ts): a
    // retry of an old write would look new here. A replica that holds the history
    // coordinates it instead; with none reachable, it is applied here. (A "new" node — a
    // new planet, or a rebuilt one before any peer told it so — coordinates as usual.)
    const holder = historyHolderNow(node, local);
    if (holder) return (await forward(node, [holder], "m", request)) as MutateResult;
  }
  const timeoutMs = request.timeoutMs ?? defaultTimeoutMs(request.consistency);
  const { state: stored, row: storedRow } = node.local.getEntry(request.key);
  const seen = node.local.getDedup(request.key, request.opId);
  if (seen) {
    // Applied here before, or learned from its coordinator: answer as the first time.
    node.m.dedupHits.inc({ from: seen.answer === "" ? "peer" : "coordinator" });
    const h = stored
      ? await resend(node, request.key, partition, stored, request.consistency, timeoutMs)
      : node.hlc.last;
    const value = seen.answer === "" ? readValue(stored, node.clock.nowMs()) : JSON.parse(seen.answer);
    return {
      value: value as ReadResult,
      duplicate: true,
      token: mergeSessionTokens(request.token, { [tokenEntryOf(node.id, request.consistency)]: h }),
    };
  }
  checkLoad(node);
  checkDedupRoom(node);
  checkReachable(node, partition, request.consistency, true);
  // Stamp after every write of the session (its token says how far each went): else a node
  // whose clock, or HLC, is behind the session's last coordinator's could stamp this write
  // before the session's earlier delete or set, which would then win over it (a user who
  // deletes and writes again would read nothing back).
  observeToken(node, request.token);
  // The state is rewritten anyway: compact it first, so a hot key does not grow.
  const h = node.hlc.now();
  const before = stored && node.stable > 0 ? compactAt(stored, node.stable, h) : stored;
  const applied = applyMutation(before, request.mutation as never, {
    opId: request.opId,
    h,
    nowMs: node.clock.nowMs(),
  });
  // applied.state is merge(before, delta): a hot counter's next write need not compact it again.
  if (before && !applied.duplicate) settleMerged(before, applied.delta, applied.state, node.stable);
  if (applied.duplicate) {
    // A retry of an op this replica already holds: make sure the level holds for it now.
    const h2 = await resend(node, request.key, partition, before as KeyState, request.consistency, timeoutMs);
    return {
      value: applied.value as ReadResult,
      duplicate: true,
      token: mergeSessionTokens(request.token, { [tokenEntryOf(node.id, request.consistency)]: h2 }),
    };
  }
  node.local.putState(request.key, partition, applied.state, { old: storedRow, digest: digest(applied.state) });
  node.local.putDedup(coordinatorRow(request.opId, request.key, partition, h, applied.value));
  const targets = targetsOf(node, partition);
  const seq = await node.local.append({
    partition,
    key: request.key,
    lh: h,
    targets,
    payload: encodeState(applied.delta),
  });
  await awaitLevel(node, seq, partition, targets, request.consistency, timeoutMs, applied.delta, request.key);
  return {
    value: applied.value as ReadResult,
    duplicate: false,
    token: mergeSessionTokens(request.token, { [tokenEntryOf(node.id, request.consistency)]: h }),
  };
}

function observeToken(node: NodeContext, token: MutateRequest["token"]): void {
  if (!token) return;
  for (const h of Object.values(token)) node.hlc.observe(h);
}

/**
 * A retry of an op this replica holds (first coordinated here or elsewhere): its whole state
 * of the key goes out again as an entry of this node's own log, stamped now, and the level
 * is waited for as for a new write. The answer's token names this node at that stamp, so a
 * replica anywhere passes it only once this node's stream brought it the state — and the
 * op with it. (Sending the state as repairs and naming this node's latest HLC let a replica
 * whose stream from here had reached that HLC answer without the op, when the op's own
 * coordinator could not reach it.) Returns the stamp.
 */
async function resend(
  node: NodeContext,
  key: string,
  partition: number,
  state: KeyState,
  level: Consistency,
  timeoutMs: number,
): Promise<number> {
  const h = node.hlc.now();
  const targets = targetsOf(node, partition);
  const seq = await node.local.append({ partition, key, lh: h, targets, payload: encodeState(state) });
  await awaitLevel(node, seq, partition, targets, level, timeoutMs, state, key);
  return h;
}
