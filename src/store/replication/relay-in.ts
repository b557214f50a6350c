// The relay's and the replicas' side of relays (relay-out.ts is the coordinator's):
//
// - the relay gets ["rel", after, upTo, lh, legs, entries] from a coordinator of another
//   site, passes it on to every site-mate a leg names (by the tag the relay knows for it) as
//   ["frel", coordinator, after, upTo, lh, legs, entries] — one message object for all of
//   them: encoded once — answers ["rdown", tag] for a leg it cannot pass on, and takes its
//   own leg like a direct batch;
// - a replica takes its leg of a "frel" as a batch of the coordinator's stream (streams.ts,
//   onRep: the same in-order check, merge, commit and recv), and answers through the relay
//   ("fack"/"fnack"), which hands the answer on unchanged ("rack"/"rnack") — a relay reports
//   only acknowledgements it received, so levels still count the replicas' own;
// - a leg built for another incarnation of this node than its current one (a lost disk:
//   the coordinator had not heard of the new one yet) carries another tag and is not taken,
//   so its cursor — what the old incarnation acknowledged — never stands for what this one
//   holds.
import type { WireMessage } from "../wire/transport.ts";
import type { NodeContext } from "./node-context.ts";
import { heardFrom } from "./peer-liveness.ts";
import {
  decodeRelayEntries,
  entriesOfLeg,
  incarnationTag,
  parseLegs,
  type RelayEntry,
  type RelayLeg,
} from "./relay-codec.ts";
import { goDirect, peerOfTag, relayWorked, remoteSiteOf } from "./relay-out.ts";
import { onAck, onNack, onRep, pump } from "./streams.ts";

/** A coordinator's batches for this site, sent to this node as its relay. */
export function onRelayed(node: NodeContext, coordinator: string, m: WireMessage): void {
  const [, after, upTo, lh, wire, blob] = m;
  const legs = parseLegs(after, upTo, lh, wire);
  const entries = lazyEntries(blob);
  const own = ownTag(node);
  let message: WireMessage | undefined;
  for (const leg of legs) {
    if (leg.tag === own) continue;
    message ??= ["frel", coordinator, after, upTo, lh, wire, blob];
    const peer = peerOfTag(node, node.site, leg.tag);
    if (peer !== undefined && node.transport.send(peer, message)) continue;
    node.m.relayLegsDropped.inc({ reason: "unreachable" });
    node.transport.send(coordinator, ["rdown", leg.tag]);
  }
  if (message) node.m.relayBatches.inc({ role: "passed" });
  const mine = legs.find((leg) => leg.tag === own);
  if (mine) takeLeg(node, coordinator, mine, entries, (reply) => node.transport.send(coordinator, reply));
}

/** A coordinator's batch that `relay` passed on: this node's leg of it, answered through the relay. */
export function onForwarded(node: NodeContext, relay: string, m: WireMessage): void {
  const [, coordinator, after, upTo, lh, wire, blob] = m;
  if (typeof coordinator !== "string" || !node.others.includes(coordinator)) {
    node.m.relayLegsDropped.inc({ reason: "unknown-coordinator" });
    return;
  }
  const own = ownTag(node);
  const mine = parseLegs(after, upTo, lh, wire).find((leg) => leg.tag === own);
  if (!mine) {
    // Passed on by a relay that took this node for another incarnation of it.
    node.m.relayLegsDropped.inc({ reason: "incarnation" });
    return;
  }
  // The coordinator is alive, whether or not its own connection to this node is.
  heardFrom(node, coordinator);
  // Answered through the relay; straight to the coordinator when the way to the relay is
  // down (an acknowledgement is the same whichever way it goes).
  takeLeg(
    node,
    coordinator,
    mine,
    lazyEntries(blob),
    (reply) =>
      node.transport.send(relay, [reply[0] === "ack" ? "fack" : "fnack", coordinator, reply[1]]) ||
      node.transport.send(coordinator, reply),
  );
}

/** A replica's answer to a batch this node passed on: handed to the coordinator unchanged. */
export function onForwardedAnswer(
  node: NodeContext,
  replica: string,
  kind: string,
  coordinator: unknown,
  seq: unknown,
): void {
  if (typeof coordinator !== "string" || !Number.isSafeInteger(seq)) throw new Error(`malformed ${kind}`);
  node.transport.send(coordinator, [kind === "fack" ? "rack" : "rnack", replica, seq]);
}

/** A replica's answer that a relay handed on: as if the replica had sent it itself. */
export function onRelayAnswer(node: NodeContext, kind: string, replica: unknown, seq: unknown): void {
  if (typeof replica !== "string" || !Number.isSafeInteger(seq)) throw new Error(`malformed ${kind}`);
  if (!node.out.has(replica)) return;
  heardFrom(node, replica);
  if (kind === "rack") {
    relayWorked(node, replica);
    onAck(node, replica, seq as number);
  } else onNack(node, replica, seq as number);
}

/** The relay could not pass a leg on: that stream goes direct for a while. */
export function onRelayDown(node: NodeContext, relay: string, tag: unknown): void {
  if (!Number.isSafeInteger(tag)) throw new Error("malformed rdown");
  const site = remoteSiteOf(node, relay);
  const replica = site === undefined ? undefined : peerOfTag(node, site, tag as number);
  if (replica === undefined) return;
  goDirect(node, replica, "unreachable");
  pump(node, replica, false, true);
}

function lazyEntries(blob: unknown): () => readonly RelayEntry[] {
  let entries: readonly RelayEntry[] | undefined;
  return () => {
    entries ??= blob === null ? [] : decodeRelayEntries(blob);
    return entries;
  };
}

const ownTags = new WeakMap<NodeContext, number>();

function ownTag(node: NodeContext): number {
  let tag = ownTags.get(node);
  if (tag === undefined) {
    tag = incarnationTag(node.incarnation.id);
    ownTags.set(node, tag);
  }
  return tag;
}

function takeLeg(
  node: NodeContext,
  coordinator: string,
  leg: RelayLeg,
  entries: () => readonly RelayEntry[],
  reply: (message: WireMessage) => void,
): void {
  onRep(node, coordinator, leg.after, leg.upTo, leg.lh, entriesOfLeg(entries(), leg), { reply, cursor: leg.cursor });
}
