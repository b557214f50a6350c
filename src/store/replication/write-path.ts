// The write path of a coordinator: check the request, forward it when this node is not a
// replica of the key, stamp the mutation with the HLC and apply it to the (compacted) state,
// stage the new state and a log entry of its delta for the group commit, and wait for the
// consistency level. A retry of an op this replica already holds is answered with the value
// and sends the whole state again through this node's log, so the level — and a session
// token naming this node — holds for the retry too.
import type { MutateRequest, MutateResult, ReadResult } from "../api-types.ts";
import { applyMutation, digest, encodeState, type KeyState, read as readValue } from "../crdt/crdt.ts";
import { storeErrors } from "../errors.ts";
import { checkDedupRoom, checkKey, checkLoad, checkReachable, checkRunning, defaultTimeoutMs } from "./checks.ts";
import { coordinatorRow } from "./dedup.ts";
import { forward } from "./forward.ts";
import { pullingDedup } from "./gone-peer-dedup.ts";
import { historyHolderNow } from "./incarnation.ts";
import { type NodeContext, targetsOf } from "./node-context.ts";
import { awaitLevel } from "./pending-writes.ts";
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
  // Dedup rows still on their way here: this node lost its disk and pulls its peers' tables
  // (refill-dedup.ts), or a coordinator's stream to it skipped entries while it was gone and
  // it pulls that coordinator's table (gone-peer-dedup.ts). A retry of an old write would look
  // new here, so a replica that holds the history coordinates it instead; with none reachable,
  // it is applied here. (A "new" node — a new planet, or a rebuilt one before any peer told it
  // so — coordinates as usual.)
  const refilling = node.incarnation.phase === "refilling" && !node.incarnation.pulled;
  if (!forwarded && (refilling || pullingDedup(node))) {
    const holder = historyHolderNow(node, local);
    if (holder) return (await forward(node, [holder], "m", request)) as MutateResult;
  }
  const timeoutMs = request.timeoutMs ?? defaultTimeoutMs(request.consistency);
  const { state: stored, row: storedRow } = node.local.getEntry(request.key);
  const seen = node.local.getDedup(request.key, request.opId);
  if (seen) {
    // Applied here before, or learned from its coordinator: answer as the first time.
    node.m.dedupHits.inc({ from: seen.answer === "" ? "peer" : "coordinator" });
    let h = node.hlc.last;
    if (stored) {
      // Its whole state goes out again through this node's log (see sendThroughLog).
      h = node.hlc.now();
      await sendThroughLog(node, request, partition, h, stored, timeoutMs);
    }
    const value = seen.answer === "" ? readValue(stored, node.clock.nowMs()) : JSON.parse(seen.answer);
    return { value: value as ReadResult, duplicate: true, token: answerToken(node, request, h) };
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
    // A retry of an op this replica already holds: its whole state goes out again, stamped h.
    await sendThroughLog(node, request, partition, h, before as KeyState, timeoutMs);
    return { value: applied.value as ReadResult, duplicate: true, token: answerToken(node, request, h) };
  }
  node.local.putState(request.key, partition, applied.state, { old: storedRow, digest: digest(applied.state) });
  node.local.settling.noteChanged(request.key, node.clock.monoMs());
  node.local.putDedup(coordinatorRow(request.opId, request.key, partition, h, applied.value));
  await sendThroughLog(node, request, partition, h, applied.delta, timeoutMs);
  return { value: applied.value as ReadResult, duplicate: false, token: answerToken(node, request, h) };
}

/** The session token of an answer: the request's, with this node's entry at `h`. */
function answerToken(node: NodeContext, request: MutateRequest, h: number): MutateResult["token"] {
  return mergeSessionTokens(request.token, { [tokenEntryOf(node.id, request.consistency)]: h });
}

function observeToken(node: NodeContext, token: MutateRequest["token"]): void {
  if (!token) return;
  for (const h of Object.values(token)) node.hlc.observe(h);
}

/**
 * Appends `state` (a new op's delta, or for a retry of an op this replica holds — first
 * coordinated here or elsewhere — its whole state of the key) to this node's log stamped
 * `h`, and waits for the request's level. A retry's token then names this node at `h`, so
 * a replica anywhere passes it only once this node's stream brought it the state, and the
 * op with it. (Sending a retry's state as repairs and naming this node's latest HLC let a
 * replica whose stream from here had reached that HLC answer without the op, when the op's
 * own coordinator could not reach it.)
 */
async function sendThroughLog(
  node: NodeContext,
  request: MutateRequest,
  partition: number,
  h: number,
  state: KeyState,
  timeoutMs: number,
): Promise<void> {
  const targets = targetsOf(node, partition);
  const seq = await node.local.append({ partition, key: request.key, lh: h, targets, payload: encodeState(state) });
  await awaitLevel(node, seq, partition, targets, request.consistency, timeoutMs, state, request.key);
}
