// When is a request's consistency level met? Given which replicas (per site) hold the op,
// decide. Pure, so the rules are tested alone.
import type { Consistency } from "../../topology/index.ts";

export type ReplicaSets = ReadonlyMap<string, readonly string[]>;

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

function countIn(replicas: readonly string[], holders: ReadonlySet<string>): number {
  let n = 0;
  for (const r of replicas) if (holders.has(r)) n++;
  return n;
}

/**
 * True when `holders` satisfy `level` for a partition whose replicas per site are
 * `replicas`, seen from `localSite`. `hinted` are local replicas that are down but whose
 * op a fallback node of the site holds as a hint (sloppy quorum): they count toward the
 * local part of a level (local-one, local-quorum, the local majority of global), never
 * toward another site's majority nor toward `all`, which means every replica itself.
 * - local-one: one replica of the local site;
 * - local-quorum: a majority of the local site's replicas;
 * - global: a majority in the local site and a majority in at least one other site
 *   (with a single-site planet, the local majority);
 * - all: every replica of every site.
 */
export function levelMet(
  level: Consistency,
  replicas: ReplicaSets,
  localSite: string,
  holders: ReadonlySet<string>,
  hinted: ReadonlySet<string> = noHints,
): boolean {
  const local = replicas.get(localSite) ?? [];
  let localCount = countIn(local, holders);
  if (level !== "all") for (const r of local) if (hinted.has(r) && !holders.has(r)) localCount++;
  switch (level) {
    case "local-one":
      return localCount >= 1;
    case "local-quorum":
      return localCount >= majority(local.length);
    case "global": {
      if (localCount < majority(local.length)) return false;
      if (replicas.size === 1) return true;
      for (const [site, nodes] of replicas) {
        if (site !== localSite && countIn(nodes, holders) >= majority(nodes.length)) return true;
      }
      return false;
    }
    case "all":
      for (const nodes of replicas.values()) if (countIn(nodes, holders) < nodes.length) return false;
      return true;
  }
}

const noHints: ReadonlySet<string> = new Set();

/**
 * Could `level` still be met if every replica not known to be down answered? Lets a
 * request fail fast with a clear error instead of waiting out its timeout. `fallbacksUp`:
 * how many nodes of the local site outside the replicas could take a hint for a local
 * replica that is down (0 for reads: a hint is no replica's answer).
 */
export function levelReachable(
  level: Consistency,
  replicas: ReplicaSets,
  localSite: string,
  isUp: (node: string) => boolean,
  fallbacksUp = 0,
): boolean {
  const possible = new Set<string>();
  for (const nodes of replicas.values()) for (const n of nodes) if (isUp(n)) possible.add(n);
  const hinted = new Set<string>();
  for (const n of replicas.get(localSite) ?? []) {
    if (hinted.size >= fallbacksUp) break;
    if (!possible.has(n)) hinted.add(n);
  }
  return levelMet(level, replicas, localSite, possible, hinted);
}
