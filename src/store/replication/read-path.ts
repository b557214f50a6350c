// The read path of a coordinator: ask the replicas the level needs (this site's first for
// the local levels, every site once a session token is not yet satisfied here) and, for
// local-quorum and global, the site's fallback nodes, which answer with the hints they hold
// for the key (a write acknowledged through a hint is seen), merge what they answer, and send the merged state to each replica that answered something else
// (read repair). A session token is satisfied once the replicas that answered have received
// every write the session made through each coordinator named in it — or, for its writes
// at a site-safe level, once a majority of every other site answered (session-token.ts).
import type { TimerHandle } from "../../core/index.ts";
import type { ReadRequest, ReadResponse, ReadResult } from "../api-types.ts";
import { decodeState, digest, encodeState, type KeyState, merge, read as readValue } from "../crdt/crdt.ts";
import { storeErrors } from "../errors.ts";
import { checkKey, checkReachable, checkRunning, defaultTimeoutMs } from "./checks.ts";
import { tickMs, tokenWaitMs } from "./engine-constants.ts";
import { forward } from "./forward.ts";
import { historyHolderNow, mayAnswerUnsound } from "./incarnation.ts";
import type { NodeContext, ReplicaResponse } from "./node-context.ts";
import { levelMet } from "./quorum.ts";
import { type SiteCover, tokenNodesOf, tokenSatisfied } from "./session-token.ts";

export async function read(node: NodeContext, request: ReadRequest, forwarded: boolean): Promise<ReadResponse> {
  checkRunning(node);
  const partition = checkKey(node, request.key, request.consistency);
  const replicas = node.replicas[partition];
  const local = replicas.get(node.site) ?? [];
  if (!local.includes(node.id)) {
    if (forwarded) throw storeErrors.create("RS_ERR_STORE_UNAVAILABLE", "forwarded to a node that is not a replica");
    return (await forward(node, local, "r", request)) as ReadResponse;
  }
  if (node.incarnation.phase !== "sound" && !node.incarnation.pulled) {
    if (!forwarded) {
      const holder = await historyHolder(node, local, request.timeoutMs ?? defaultTimeoutMs(request.consistency));
      if (holder) return (await forward(node, [holder], "r", request)) as ReadResponse;
    }
    // Its own state may miss acknowledged writes (a lost disk not refilled yet): refuse, so
    // the client asks another node, rather than answer less than was acknowledged.
    if (!mayAnswerUnsound(node, local)) {
      throw storeErrors.create(
        "RS_ERR_STORE_UNAVAILABLE",
        `node ${node.id} is ${node.incarnation.phase === "new" ? "new (its history is not known yet)" : "refilling after a disk loss"} and no replica of site ${node.site} that holds the history is reachable; nothing was read, try another node`,
        { detail: { refilling: true, phase: node.incarnation.phase } },
      );
    }
  }
  checkReachable(node, partition, request.consistency, false);
  const timeoutMs = request.timeoutMs ?? defaultTimeoutMs(request.consistency);
  const token = request.token;
  const tokenNodes = tokenNodesOf(token);
  const responses = new Map<string, ReplicaResponse>();
  responses.set(node.id, { state: replicaAnswer(node, request.key), recv: recvFor(node, tokenNodes) });
  // Fallbacks of this site that may hold hints for a down local replica (hints go to the
  // first nodes after the replicas in the site's order): the read waits for those up.
  const fallbacks =
    request.consistency === "local-quorum" || request.consistency === "global"
      ? node.siteOrder[partition].filter((n) => !local.includes(n)).slice(0, local.length)
      : [];
  const answered = new Set<string>();
  const cover: SiteCover = { replicas, answered, siteOf: (n) => siteOfMember(node, n) };
  const done = (): boolean => {
    answered.clear();
    for (const n of responses.keys()) answered.add(n);
    return (
      levelMet(request.consistency, replicas, node.site, answered) &&
      fallbacks.every((f) => responses.has(f) || !node.transport.isUp(f)) &&
      tokenSatisfied(token, responses.values(), cover)
    );
  };
  if (!done()) {
    const localFirst = request.consistency === "local-one" || request.consistency === "local-quorum";
    const ask = (nodes: readonly string[]) => {
      for (const n of nodes) {
        if (n === node.id || responses.has(n)) continue;
        const callId = node.calls.call((reply) => {
          if (reply[0] !== "readres") return;
          const bytes = reply[2] as Uint8Array | null;
          const recvList = reply[3] as number[];
          responses.set(n, {
            state: bytes ? decodeState(bytes) : undefined,
            recv: new Map(tokenNodes.map((t, i) => [t, recvList[i] ?? 0])),
          });
          check();
        });
        node.transport.send(n, ["read", callId, request.key, tokenNodes]);
      }
    };
    let check = (): void => {};
    await new Promise<void>((resolve, reject) => {
      const timers: TimerHandle[] = [];
      const finish = (err?: Error) => {
        check = () => {};
        for (const t of timers) t.cancel();
        if (err) reject(err);
        else resolve();
      };
      check = () => {
        if (done()) finish();
      };
      const all = [...replicas.values()].flat();
      ask(localFirst ? local : all);
      ask(fallbacks);
      if (localFirst) {
        // The session's writes may not have reached this site yet (a failover): ask the other sites too.
        timers.push(
          node.clock.setTimer(Math.min(tokenWaitMs, timeoutMs / 2), () => {
            if (!tokenSatisfied(token, responses.values(), cover)) ask(all);
          }),
        );
      }
      timers.push(
        node.clock.setTimer(timeoutMs, () => {
          const levelOk = levelMet(request.consistency, replicas, node.site, new Set(responses.keys()));
          finish(
            levelOk
              ? storeErrors.create("RS_ERR_STORE_STALE", `key ${request.key}`)
              : storeErrors.create(
                  "RS_ERR_STORE_CONSISTENCY",
                  `${request.consistency} read not met within ${timeoutMs} ms (answered: ${[...responses.keys()].join(", ")})`,
                ),
          );
        }),
      );
      check();
    });
  }
  let merged: KeyState | undefined;
  for (const r of responses.values()) merged = merge(merged, r.state);
  readRepair(node, request.key, partition, merged, responses);
  return { value: readValue(merged, node.clock.nowMs()) as ReadResult, token: token ?? {} };
}

/** The site of a store member, undefined when it is not one (a token may name a node long gone). */
function siteOfMember(node: NodeContext, id: string): string | undefined {
  if (id === node.id) return node.site;
  return node.membership.members.find((m) => m.id === id)?.site;
}

/**
 * This node's data dir is new (maybe a lost disk, not known yet) or a lost disk not refilled
 * yet: a replica of this site that holds the history answers instead. That is a peer that
 * is up, confirmed this incarnation (its answers reach this node) and is not refilling
 * itself. Right after a start no peer has confirmed yet: waits a little (at most a third of
 * the request's time) for one, or for the signs of a new planet (mayAnswerUnsound). Undefined when none is there (the read then is refused unless every
 * sign says this is a new planet, where every node is new and answers for itself).
 */
async function historyHolder(
  node: NodeContext,
  local: readonly string[],
  timeoutMs: number,
): Promise<string | undefined> {
  const inc = node.incarnation;
  const startedMs = node.clock.monoMs();
  for (;;) {
    const holder = historyHolderNow(node, local);
    if (holder || inc.pulled || mayAnswerUnsound(node, local)) return holder;
    // A node that knows it lost its history and sees no replica of its site: nothing to wait for.
    const noneUp = local.every((n) => n === node.id || !node.transport.isUp(n));
    if ((inc.phase === "refilling" && noneUp) || node.clock.monoMs() - startedMs >= timeoutMs / 3) return undefined;
    await new Promise<void>((resolve) => node.clock.setTimer(tickMs, resolve));
  }
}

function readRepair(
  node: NodeContext,
  key: string,
  partition: number,
  merged: KeyState | undefined,
  responses: ReadonlyMap<string, ReplicaResponse>,
): void {
  if (!merged || responses.size < 2) return;
  const want = digest(merged);
  let bytes: Uint8Array | undefined;
  const replicas = new Set([...node.replicas[partition].values()].flat());
  for (const [replica, r] of responses) {
    // A fallback's answer is its hints, not a replica's state: nothing to repair there.
    if (!replicas.has(replica) || digest(r.state) === want) continue;
    node.m.repairs.inc({ kind: "read" });
    if (replica === node.id) {
      node.local.mergeRemote(key, partition, merged, "repair");
    } else {
      bytes ??= encodeState(merged);
      node.transport.send(replica, ["repair", "", key, partition, bytes]);
    }
  }
}

/**
 * The same answer encoded for the wire: the stored row's bytes as they are when no hint
 * adds to them (they are the encoding of that state: re-encoding it cost a read a
 * sort and a pack per key at every replica asked).
 */
export function replicaAnswerBytes(node: NodeContext, key: string): Uint8Array | null {
  const hinted = node.hints.stateOf(key);
  const { state, row } = node.local.getEntry(key);
  if (hinted) {
    const merged = merge(state, hinted);
    return merged ? encodeState(merged) : null;
  }
  return state && row ? row.state : null;
}

/** A node's answer to a read: its state of the key merged with the hints it holds for it as a fallback. */
export function replicaAnswer(node: NodeContext, key: string): KeyState | undefined {
  const hinted = node.hints.stateOf(key);
  const state = node.local.getState(key);
  return hinted ? merge(state, hinted) : state;
}

/** What this replica has received from each coordinator named in a session token. */
export function recvFor(node: NodeContext, nodes: readonly string[]): Map<string, number> {
  return new Map(nodes.map((n) => [n, n === node.id ? node.hlc.last : (node.recv.get(n) ?? 0)]));
}
