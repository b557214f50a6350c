// Session tokens: per coordinating node, the HLC of the session's last write through it.
// A read that carries one is answered only from replicas that have received those writes.
// (Merging and encoding tokens is in session-encoding.ts.)
//
// A write acknowledged at a level that survives the loss of a site (global, all) is kept
// under its own entry, `<node>/g`: it is held by a majority of its replicas in a site other
// than its coordinator's, so a read that heard from a majority in every other site has seen
// it, whatever those replicas received from the coordinator since. That is what lets a
// session go on in another site when its site is lost right after a write: the replicas
// of the keys it reads there may never hear from the lost coordinator again. Entries
// without the suffix (local-one, local-quorum writes) need a replica that received them.

import type { Consistency } from "../../topology/index.ts";
import type { SessionToken } from "../api-types.ts";
import { majority } from "./quorum.ts";

/** The suffix of a token entry whose writes survive the loss of a site. */
export const siteSafeSuffix = "/g";

/** The token entry a write through `node` at `level` advances. */
export function tokenEntryOf(node: string, level: Consistency): string {
  return level === "global" || level === "all" ? `${node}${siteSafeSuffix}` : node;
}

/** The coordinator a token entry names, and whether its writes survive a site loss. */
export function coordinatorOf(entry: string): { readonly node: string; readonly siteSafe: boolean } {
  return entry.endsWith(siteSafeSuffix)
    ? { node: entry.slice(0, -siteSafeSuffix.length), siteSafe: true }
    : { node: entry, siteSafe: false };
}

/** The coordinators a token names (what replicas are asked how far they received). */
export function tokenNodesOf(token: SessionToken | undefined): string[] {
  if (!token) return [];
  return [...new Set(Object.keys(token).map((e) => coordinatorOf(e).node))];
}

/** Where the read stands: which replicas answered, per site, and each coordinator's site. */
export type SiteCover = {
  /** The partition's voting replicas per site. */
  readonly replicas: ReadonlyMap<string, readonly string[]>;
  /** The nodes that answered (replicas' own states; a fallback's hints do not count here). */
  readonly answered: ReadonlySet<string>;
  /** The site of a coordinator, undefined when it is not a member. */
  readonly siteOf: (node: string) => string | undefined;
};

/** True when a majority of the replicas of every site but `site` answered. */
export function everyOtherSiteHeard(cover: SiteCover, site: string): boolean {
  if (cover.replicas.size < 2) return false;
  for (const [s, nodes] of cover.replicas) {
    if (s === site) continue;
    let n = 0;
    for (const r of nodes) if (cover.answered.has(r)) n++;
    if (n < majority(nodes.length)) return false;
  }
  return true;
}

/**
 * True when, for every entry of the token, some responder has received its writes up to the
 * entry's HLC — or, for a site-safe entry, a majority of every site but the coordinator's
 * answered (the write is in one of those majorities).
 */
export function tokenSatisfied(
  token: SessionToken | undefined,
  responders: Iterable<{ readonly recv: ReadonlyMap<string, number> }>,
  cover?: SiteCover,
): boolean {
  if (!token) return true;
  const list = [...responders];
  for (const [entry, h] of Object.entries(token)) {
    const { node, siteSafe } = coordinatorOf(entry);
    if (list.some((r) => (r.recv.get(node) ?? 0) >= h)) continue;
    if (siteSafe && cover) {
      const site = cover.siteOf(node);
      if (site !== undefined && everyOtherSiteHeard(cover, site)) continue;
    }
    return false;
  }
  return true;
}
