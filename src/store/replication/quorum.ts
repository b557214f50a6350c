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
 * `replicas`, seen from `localSite`.
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
): boolean {
  const local = replicas.get(localSite) ?? [];
  const localCount = countIn(local, holders);
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

/**
 * Could `level` still be met if every replica not known to be down answered? Lets a
 * request fail fast with a clear error instead of waiting out its timeout.
 */
export function levelReachable(
  level: Consistency,
  replicas: ReplicaSets,
  localSite: string,
  isUp: (node: string) => boolean,
): boolean {
  const possible = new Set<string>();
  for (const nodes of replicas.values()) for (const n of nodes) if (isUp(n)) possible.add(n);
  return levelMet(level, replicas, localSite, possible);
}
