// Who the store's nodes are: a versioned membership record that every node learns. The
// planet file gives the first one (epoch 0, every node active); `redshirt store
// join|leave|replace` makes the next. A change does not take effect at once: the record
// marks nodes `joining` or `leaving`, and while any is, each partition has two sets per site:
//
// - voters: the first rf of the rendezvous order over active and leaving nodes (the old
//   placement). Quorums are counted and reads are answered here only.
// - targets: voters plus the nodes that the new placement (over active and joining nodes)
//   adds. Every write also reaches those, so they stop falling behind while they fill.
//
// A node the new placement adds for a partition is "filling" it until anti-entropy has
// brought it every key a quorum of the voters acknowledged (replication/fill.ts). When every
// filling node says so, any node computes the next record — joining become active, leaving
// go — which is the same whoever computes it, so the change needs no leader. Pure: tested alone.
import { assert } from "../../core/index.ts";
import { type Planet, storeNodeById } from "../../topology/index.ts";
import { storeErrors } from "../errors.ts";
import { rendezvousOrder } from "./partition.ts";

export type MemberState = "active" | "joining" | "leaving";
export type Member = {
  readonly id: string;
  readonly site: string;
  readonly host: string;
  readonly port: number;
  readonly state: MemberState;
};
export type Membership = { readonly epoch: number; readonly members: readonly Member[] };

export type MembershipChange =
  | { readonly op: "join"; readonly node: string }
  | { readonly op: "leave"; readonly node: string }
  | { readonly op: "replace"; readonly old: string; readonly node: string };

const membersMax = 1_024;

export function initialMembership(planet: Planet): Membership {
  return {
    epoch: 0,
    members: planet.storeNodes.map((n) => ({ id: n.id, site: n.site, host: n.host, port: n.port, state: "active" })),
  };
}

export function inTransition(m: Membership): boolean {
  return m.members.some((x) => x.state !== "active");
}

function bad(text: string): Error {
  return storeErrors.create("RS_ERR_STORE_MEMBERSHIP", text);
}

/** The record after `change`; throws RS_ERR_STORE_MEMBERSHIP naming what is wrong with it. */
export function changeMembership(planet: Planet, current: Membership, change: MembershipChange): Membership {
  const byId = new Map(current.members.map((x) => [x.id, x]));
  const fresh = (id: string): Member => {
    const info = storeNodeById(planet, id);
    if (!info) throw bad(`node: ${JSON.stringify(id)} is no store node id (expected <site>-store<k>, k 1..32)`);
    if (byId.has(id)) throw bad(`node: ${id} is a member already (${byId.get(id)?.state})`);
    const n = info as NonNullable<typeof info>;
    return { id, site: n.site, host: n.host, port: n.port, state: "joining" };
  };
  const member = (id: string, field: string): Member => {
    const m = byId.get(id);
    if (!m) throw bad(`${field}: ${JSON.stringify(id)} is not a member (members: ${[...byId.keys()].join(", ")})`);
    return m;
  };
  const next = new Map(byId);
  if (change.op === "leave") {
    const m = member(change.node, "node");
    if (m.state === "joining") {
      // A join given up (its node never came, or died while filling): it held nothing yet.
      // A replace given up this way keeps the old node: it is no longer leaving.
      next.delete(m.id);
      for (const x of next.values()) if (x.state === "leaving") next.set(x.id, { ...x, state: "active" });
      return seal(current.epoch + 1, next);
    }
    if (m.state === "leaving") throw bad(`node: ${m.id} is leaving already`);
    if (inTransition(current)) throw busy(current);
    if ([...byId.values()].filter((x) => x.site === m.site).length <= 1) {
      throw bad(`node: ${m.id} is the last store node of site ${m.site}; a site keeps at least one`);
    }
    next.set(m.id, { ...m, state: "leaving" });
  } else if (change.op === "join") {
    if (inTransition(current)) throw busy(current);
    const n = fresh(change.node);
    next.set(n.id, n);
  } else {
    if (inTransition(current)) throw busy(current);
    const old = member(change.old, "old");
    const n = fresh(change.node);
    if (n.site !== old.site)
      throw bad(`node: ${n.id} is in site ${n.site}, ${old.id} in ${old.site}; replace within a site`);
    next.set(old.id, { ...old, state: "leaving" });
    next.set(n.id, n);
  }
  if (next.size > membersMax) throw bad(`a planet holds at most ${membersMax} store nodes`);
  return seal(current.epoch + 1, next);
}

function busy(m: Membership): Error {
  const moving = m.members.filter((x) => x.state !== "active").map((x) => `${x.id} ${x.state}`);
  return bad(`a change is in progress at epoch ${m.epoch} (${moving.join(", ")}); wait until it is done`);
}

function seal(epoch: number, members: ReadonlyMap<string, Member>): Membership {
  return { epoch, members: [...members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** The record that ends a change: joining nodes active, leaving ones gone. The same on every node. */
export function finishTransition(m: Membership): Membership {
  assert(inTransition(m), "only a change in progress finishes");
  const next = new Map<string, Member>();
  for (const x of m.members) if (x.state !== "leaving") next.set(x.id, { ...x, state: "active" });
  return seal(m.epoch + 1, next);
}

/** Which of two records wins: the higher epoch; two different records of one epoch, the larger encoding. */
export function isNewer(a: Membership, b: Membership): boolean {
  if (a.epoch !== b.epoch) return a.epoch > b.epoch;
  const ea = encodeMembership(a);
  const eb = encodeMembership(b);
  return ea !== eb && ea > eb;
}

export function encodeMembership(m: Membership): string {
  return JSON.stringify({ epoch: m.epoch, members: m.members.map((x) => [x.id, x.site, x.host, x.port, x.state]) });
}

const states: ReadonlySet<string> = new Set(["active", "joining", "leaving"]);

/** Decodes a record from a peer or the disk; throws RS_ERR_STORE_MEMBERSHIP when it is malformed. */
export function decodeMembership(text: string): Membership {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw storeErrors.create("RS_ERR_STORE_MEMBERSHIP", "a membership record that is not JSON", { cause });
  }
  const r = raw as { epoch?: unknown; members?: unknown };
  if (!Number.isSafeInteger(r.epoch) || (r.epoch as number) < 0 || !Array.isArray(r.members)) {
    throw bad("a membership record without epoch or members");
  }
  if (r.members.length > membersMax) throw bad(`a membership record of ${r.members.length} nodes`);
  const members: Member[] = [];
  for (const x of r.members as unknown[]) {
    const [id, site, host, port, state] = Array.isArray(x) ? x : [];
    if (typeof id !== "string" || typeof site !== "string" || typeof host !== "string") throw bad("a malformed member");
    if (!Number.isInteger(port) || typeof state !== "string" || !states.has(state))
      throw bad(`member ${id}: bad port or state`);
    members.push({ id, site, host, port, state: state as MemberState });
  }
  return { epoch: r.epoch as number, members };
}

/** Placement of every partition under a membership, as seen from node `self`. */
export type MemberPlacement = {
  /** Per partition: the voters per site (quorums, reads). */
  readonly replicas: readonly Map<string, string[]>[];
  /** Per partition: every node a write must reach (voters and filling nodes, every site). */
  readonly targets: readonly string[][];
  /** Per partition: every member of this site in rendezvous order (fallbacks for hints). */
  readonly siteOrder: readonly string[][];
  /** Partitions this node votes for or fills. */
  readonly mine: readonly number[];
  /** Partitions this node fills (a target, not yet a voter). */
  readonly filling: readonly number[];
  /** Every other member. */
  readonly others: readonly string[];
  /** Every node that fills some partition: the change finishes once each of them is filled. */
  readonly fillers: ReadonlySet<string>;
};

export function placeMembers(m: Membership, partitions: number, rf: number, self: string): MemberPlacement {
  const site = m.members.find((x) => x.id === self)?.site;
  const bySite = new Map<string, Member[]>();
  for (const x of m.members) bySite.set(x.site, [...(bySite.get(x.site) ?? []), x]);
  const replicas: Map<string, string[]>[] = [];
  const targets: string[][] = [];
  const siteOrder: string[][] = [];
  const mine: number[] = [];
  const filling: number[] = [];
  const fillers = new Set<string>();
  for (let p = 0; p < partitions; p++) {
    const voters = new Map<string, string[]>();
    const all: string[] = [];
    for (const [s, nodes] of bySite) {
      const order = rendezvousOrder(
        p,
        nodes.map((x) => x.id),
      );
      const stateOf = new Map(nodes.map((x) => [x.id, x.state]));
      const old = order.filter((id) => stateOf.get(id) !== "joining").slice(0, rf);
      const next = order.filter((id) => stateOf.get(id) !== "leaving").slice(0, rf);
      voters.set(s, old);
      all.push(...old);
      for (const id of next) {
        if (old.includes(id)) continue;
        all.push(id);
        fillers.add(id);
        if (id === self) filling.push(p);
      }
      if (s === site) siteOrder[p] = order;
    }
    replicas[p] = voters;
    targets[p] = all;
    if (all.includes(self)) mine.push(p);
  }
  for (let p = 0; p < partitions; p++) siteOrder[p] ??= [];
  const others = m.members.filter((x) => x.id !== self).map((x) => x.id);
  return { replicas, targets, siteOrder, mine, filling, others, fillers };
}
