// The end of a simulation run: waiting for the replicas to converge, reading every key at
// every replica, and the late retries that check each op id counts exactly once.
import type { Planet } from "../../topology/index.ts";
import type { ReadResult } from "../api-types.ts";
import { type Attempt, distinctOps, familyOf } from "./sim-checks.ts";
import type { SimCluster } from "./sim-cluster.ts";

/** Advances time until the hash trees of every live replica agree; returns how long it took. */
export async function converge(cluster: SimCluster, planet: Planet, live: readonly string[], problems: string[]) {
  const fromMs = cluster.clock.nowMs();
  for (let waited = 0; waited < 180_000; waited += 1_000) {
    await cluster.advance(1_000);
    if (rootsAgree(cluster, planet, live)) return cluster.clock.nowMs() - fromMs;
  }
  problems.push("hash trees did not converge within 180 s of simulated time after healing");
  return cluster.clock.nowMs() - fromMs;
}

/** Every replica must read the same value for every key; returns the values. */
export async function readEverywhere(
  cluster: SimCluster,
  keys: readonly string[],
  live: readonly string[],
  problems: string[],
): Promise<Map<string, ReadResult>> {
  const values = new Map<string, ReadResult>();
  for (const key of keys) {
    let first: string | undefined;
    for (const id of live) {
      const r = await cluster.settle(cluster.read(id, { key, consistency: "local-one" }));
      if (!r.ok) {
        problems.push(`read ${key} at ${id} failed: ${r.error.message}`);
        continue;
      }
      const text = JSON.stringify(r.value.value);
      if (first === undefined) {
        first = text;
        values.set(key, r.value.value);
      } else if (text !== first) problems.push(`replicas differ on ${key}: ${first} at ${live[0]} vs ${text} at ${id}`);
    }
  }
  return values;
}

const lateFamilies = new Set(["c", "cart", "tl"]);

/** Retries every op id of the counter families at a node of another site than its first attempt. */
export async function retryLate(
  cluster: SimCluster,
  history: readonly Attempt[],
  live: readonly string[],
  siteOf: ReadonlyMap<string, string>,
  problems: string[],
): Promise<{ retried: number; duplicates: number }> {
  let retried = 0;
  let duplicates = 0;
  for (const op of distinctOps(history.filter((h) => lateFamilies.has(familyOf(h.key))))) {
    const elsewhere = live.filter((n) => siteOf.get(n) !== siteOf.get(op.node));
    const node = elsewhere[retried % elsewhere.length];
    retried++;
    let answered = false;
    let lastError = "";
    for (let tries = 0; tries < 5 && !answered; tries++) {
      if (tries > 0) await cluster.advance(1_000);
      const r = await cluster.settle(
        cluster.mutate(node, { key: op.key, mutation: op.mutation, opId: op.opId, consistency: "local-quorum" }),
      );
      if (!r.ok) {
        lastError = r.error.message;
        continue;
      }
      answered = true;
      if (r.value.duplicate) duplicates++;
      else if (op.anyAck)
        problems.push(`${op.opId} on ${op.key}: acknowledged, retried 30 s later at ${node}, applied again`);
    }
    if (!answered) problems.push(`${op.opId} on ${op.key}: a late retry at ${node} never succeeded: ${lastError}`);
  }
  return { retried, duplicates };
}

/** After every op id was retried until answered, each counter is exactly the sum of its distinct ops. */
export function checkExactlyOnce(
  history: readonly Attempt[],
  values: ReadonlyMap<string, ReadResult>,
  problems: string[],
) {
  const want = new Map<string, Record<string, number>>();
  for (const op of distinctOps(history.filter((h) => lateFamilies.has(familyOf(h.key))))) {
    const sums = want.get(op.key) ?? {};
    const m = op.mutation;
    if (m.kind === "incr") sums[""] = (sums[""] ?? 0) + m.by;
    if (m.kind === "mincr") for (const [f, d] of Object.entries(m.fields)) sums[f] = (sums[f] ?? 0) + d;
    want.set(op.key, sums);
  }
  for (const [key, sums] of want) {
    const v = values.get(key);
    const got = v?.exists ? v.value : undefined;
    const gotSums = typeof got === "number" ? { "": got } : ((got ?? {}) as Record<string, number>);
    for (const [f, n] of Object.entries(sums)) {
      if ((gotSums[f] ?? 0) !== n)
        problems.push(`${key}${f ? `.${f}` : ""}: ${gotSums[f] ?? 0} after every op id was applied, want exactly ${n}`);
    }
  }
}

export function repairsOf(cluster: SimCluster, id: string): number {
  return metricValue(cluster.engine(id)!.metricsText(), 'redshirt_store_repairs_total{kind="anti-entropy"}');
}

export function metricValue(text: string, series: string): number {
  for (const line of text.split("\n")) if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  return 0;
}

export function rootsAgree(cluster: SimCluster, planet: Planet, nodes: readonly string[]): boolean {
  for (let p = 0; p < planet.store.partitions; p++) {
    const roots = new Set(nodes.map((n) => cluster.engine(n)!.treeRoot(p)));
    if (roots.size > 1) return false;
  }
  return true;
}
