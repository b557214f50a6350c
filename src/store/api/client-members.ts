// Which store nodes the client sends to. At first the planet file's nodes; then the store's
// own membership record (`GET /v1/membership`, docs/store.md "Membership"), refreshed now
// and then and whenever every node tried failed: the planet file is not edited when nodes
// join, leave or are replaced, so a client that only knew it would keep sending to a
// removed node and never to its replacement — and a site whose first nodes were all
// replaced would be unreachable to its apps.
import { z } from "zod";
import { dialAddress, type Planet, type Site, siteByName, sitesByDistance } from "../../topology/index.ts";
import type { MembershipView } from "../api-types.ts";
import { partitionOf, replicasOf } from "../replication/partition.ts";

export type ClientNode = { readonly id: string; readonly origin: string; readonly host: string; readonly port: number };

type Member = {
  readonly id: string;
  readonly site: string;
  readonly host: string;
  readonly port: number;
  readonly state: string;
};

/** What a node's `GET /v1/membership` must hold for the client to use it (the rest is ignored). */
const viewSchema = z.object({
  epoch: z.number().int().min(0),
  members: z
    .array(
      z.object({
        id: z.string().min(1).max(64),
        site: z.string().min(1),
        host: z.string().min(1),
        port: z.number().int().min(1).max(65_535),
        state: z.enum(["active", "joining", "leaving"]),
      }),
    )
    .min(1)
    .max(1_024),
});

/** Checks a membership answer's shape; throws naming the field when it is not one. */
export function parseMembershipView(body: unknown): Pick<MembershipView, "epoch" | "members"> {
  const r = viewSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`membership answer: ${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
  }
  return r.data;
}

export class ClientMembers {
  readonly #planet: Planet;
  readonly #home: Site;
  #byId = new Map<string, ClientNode>();
  /** Per site, nearest first (this one first): the ids of its nodes that vote (not joining). */
  #siteNodeIds: string[][] = [];
  /** The record's epoch in use; -1 while only the planet file is known. */
  epoch = -1;

  constructor(planet: Planet, home: Site) {
    this.#planet = planet;
    this.#home = home;
    this.#use(planet.storeNodes.map((n) => ({ id: n.id, site: n.site, host: n.host, port: n.port, state: "active" })));
  }

  get(id: string): ClientNode | undefined {
    return this.#byId.get(id);
  }

  /** Every node the client may send to. */
  ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** This site's nodes, to ask for the record. */
  homeIds(): readonly string[] {
    return this.#siteNodeIds[0] ?? [];
  }

  /**
   * Adopts a newer record. Returns the ids no longer members (their connections can go).
   * Members of sites the planet file does not name are left out: the client cannot dial them.
   */
  apply(view: Pick<MembershipView, "epoch" | "members">): string[] {
    if (view.epoch <= this.epoch) return [];
    const known = view.members.filter((m) => siteByName(this.#planet, m.site) !== undefined);
    if (known.length === 0) return [];
    const before = new Set(this.#byId.keys());
    this.#use(known);
    this.epoch = view.epoch;
    return [...before].filter((id) => !this.#byId.has(id));
  }

  #use(members: readonly Member[]): void {
    const byId = new Map<string, ClientNode>();
    for (const m of members) {
      const old = this.#byId.get(m.id);
      if (old && old.host === m.host && old.port === m.port) {
        byId.set(m.id, old);
        continue;
      }
      // Nodes of other sites are dialed through this site's WAN links when the WAN is emulated.
      const at = dialAddress(this.#planet, this.#home.name, { host: m.host, port: m.port, site: m.site });
      byId.set(m.id, { id: m.id, origin: `http://${at.host}:${at.port}`, host: at.host, port: at.port });
    }
    this.#byId = byId;
    // A joining node does not vote yet: the partition's replicas are the voters, as the nodes place them.
    this.#siteNodeIds = sitesByDistance(this.#planet, this.#home).map((site) =>
      members.filter((m) => m.site === site.name && m.state !== "joining").map((m) => m.id),
    );
  }

  /**
   * Replicas of the key's partition in this site first (rendezvous order), then the site's
   * other nodes, then the replicas in the other sites, nearest first; within each site,
   * nodes that are down (`isDown`) go last.
   */
  candidates(key: string, isDown: (id: string) => boolean, max: number): ClientNode[] {
    const partition = partitionOf(key, this.#planet.store.partitions);
    const ordered: string[] = [];
    this.#siteNodeIds.forEach((ids, i) => {
      const replicas = replicasOf(partition, ids, this.#planet.store.rf);
      const group = i === 0 ? [...replicas, ...ids.filter((id) => !replicas.includes(id))] : replicas;
      ordered.push(...group.filter((id) => !isDown(id)));
      ordered.push(...group.filter((id) => isDown(id)));
    });
    return ordered.slice(0, max).map((id) => this.#byId.get(id)!);
  }
}
