// Every message a peer sends this node, dispatched by its type: stream batches and acks
// (direct, or through a relay: "rel" to the relay, "frel" from it, answers back the same way),
// stability gossip, replica reads, repairs, hints held for a down replica, forwarded client
// requests, the replies to this node's own calls, and anti-entropy ("ae-*").
import type { MutateRequest, ReadRequest } from "../api-types.ts";
import { decodeState } from "../crdt/crdt.ts";
import type { WireMessage } from "../wire/transport.ts";
import { onDedupGot, onDedupOwed } from "./gone-peer-dedup.ts";
import { onAnnounce } from "./incarnation.ts";
import { onMembershipMessage, onPeerEpoch } from "./membership-sync.ts";
import type { NodeContext } from "./node-context.ts";
import type { RepEntry } from "./outbound-stream.ts";
import { heardFrom, onGoneReport } from "./peer-liveness.ts";
import { read, recvFor, replicaAnswerBytes } from "./read-path.ts";
import { onFill, onFillPut } from "./refill.ts";
import { onFillDedup } from "./refill-dedup.ts";
import { onForwarded, onForwardedAnswer, onRelayAnswer, onRelayDown, onRelayed } from "./relay-in.ts";
import { noteRelayVersion } from "./relay-out.ts";
import { onStability } from "./stability.ts";
import { onAck, onNack, onRep } from "./streams.ts";
import { mutate } from "./write-path.ts";

export function onMessage(node: NodeContext, from: string, message: WireMessage): void {
  if (node.state !== "running" || !Array.isArray(message)) return;
  heardFrom(node, from);
  try {
    dispatch(node, from, message);
  } catch (err) {
    const type = String(message[0]).slice(0, 32);
    node.errors.report(type.startsWith("ae-") ? "anti-entropy-message" : "peer-message", err, { peer: from, type });
  }
}

function dispatch(node: NodeContext, from: string, m: WireMessage): void {
  switch (m[0]) {
    case "rep":
      onRep(node, from, m[1] as number, m[2] as number, m[3] as number, m[4] as RepEntry[]);
      return;
    case "ack":
      onAck(node, from, m[1] as number);
      return;
    case "nack":
      onNack(node, from, m[1] as number);
      return;
    case "rel":
      onRelayed(node, from, m);
      return;
    case "frel":
      onForwarded(node, from, m);
      return;
    case "fack":
    case "fnack":
      onForwardedAnswer(node, from, m[0], m[1], m[2]);
      return;
    case "rack":
    case "rnack":
      onRelayAnswer(node, m[0], m[1], m[2]);
      return;
    case "rdown":
      onRelayDown(node, from, m[1]);
      return;
    case "stab":
      onStability(node, from, m[1] as number, m[2] as number);
      onPeerEpoch(node, from, m[3], m[4], m[5]);
      onGoneReport(node, from, m[6]);
      return;
    case "mem":
      onMembershipMessage(node, from, m[1]);
      return;
    case "read": {
      const [, callId, key, tokenNodes] = m as [string, string, string, string[]];
      const recv = recvFor(node, tokenNodes);
      node.transport.send(from, [
        "readres",
        callId,
        replicaAnswerBytes(node, key),
        tokenNodes.map((n) => recv.get(n) ?? 0),
      ]);
      return;
    }
    case "repair": {
      const [, callId, key, partition, bytes] = m as [string, string, string, number, Uint8Array];
      node.local.mergeRemote(key, partition, decodeState(bytes), "repair");
      // Confirmed only once on disk (a failed commit leaves the caller to resend).
      if (callId) node.local.afterNextCommit((err) => err || node.transport.send(from, ["repaired", callId]));
      return;
    }
    case "hint": {
      // This node is a fallback: it keeps the op in its own log, targeted at the down replica.
      const [, callId, partition, key, payload, target] = m as [string, string, number, string, Uint8Array, string];
      void node.local.append({ partition, key, lh: node.hlc.now(), targets: [target], payload }).then(
        (seq) => {
          node.hints.add({ key, seq, payload, targets: [target] });
          node.transport.send(from, ["hinted", callId]);
        },
        // The coordinator gets no "hinted" and counts this node out; the failure must still show.
        (err) => node.errors.report("hint-commit", err, { peer: from, target, partition }),
      );
      return;
    }
    case "fwd": {
      const [, callId, kind, request] = m as [string, string, string, MutateRequest & ReadRequest];
      const run = kind === "m" ? mutate(node, request, true) : read(node, request, true);
      run.then(
        (result) => node.transport.send(from, ["fwdres", callId, null, result]),
        (err: Error & { code?: string }) =>
          node.transport.send(from, ["fwdres", callId, { code: err.code, message: err.message }, null]),
      );
      return;
    }
    case "inc":
      onAnnounce(node, from, m[1] as string, m[2] as string, m[3] as string);
      noteRelayVersion(node, from, m[4]);
      return;
    case "fill":
      onFill(node, from, m[1] as string, m[2] as number, m[3]);
      return;
    case "fillput":
      onFillPut(node, from, m[1] as string, m[2] as number, m[3]);
      return;
    case "dedupowed":
      onDedupOwed(node, from);
      return;
    case "dedupgot":
      onDedupGot(node, from);
      return;
    case "filld":
      onFillDedup(node, from, m[1] as string, m[2], m[3]);
      return;
    case "incok":
    case "fillres":
    case "fillputres":
    case "filldres":
    case "readres":
    case "repaired":
    case "hinted":
    case "fwdres": {
      const respond = node.calls.get(m[1] as string);
      respond?.(m);
      return;
    }
    default:
      if (typeof m[0] === "string" && m[0].startsWith("ae-")) node.antiEntropy.onMessage(from, m);
  }
}
