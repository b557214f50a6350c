// The simulation's workload and checker: clients in every site issue counters, sets,
// registers, carts and deletes at random consistency levels (and retry some with the same
// op id at another node) while the nemesis crashes and restarts nodes, partitions sites and
// drops messages. Then everything heals and the checker asks: did every replica converge,
// and is every acknowledged write there (and every acknowledged delete gone)?
import { type Planet, parsePlanet } from "../../topology/index.ts";
import type { Mutation, ReadResult } from "../api-types.ts";
import { SimCluster } from "./sim-cluster.ts";

export type SimulationOptions = {
  readonly seed: number;
  /** Client operations to issue. */
  readonly ops: number;
  readonly lossRate?: number;
  /** Crash, restart and partition nodes while the workload runs. */
  readonly faults?: boolean;
  readonly planet?: Planet;
  /**
   * Repair alone must converge the replicas: at the end, one site is cut off while one of
   * its nodes coordinates a burst of local-quorum writes, then that node dies for good (its
   * log never streams) and the rest heals. Only anti-entropy between the survivors can carry
   * those writes to the other sites.
   */
  readonly repairOnly?: boolean;
  readonly onProgress?: (line: string) => void;
};

export type SimulationReport = {
  readonly seed: number;
  readonly problems: string[];
  readonly acked: number;
  readonly failed: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly convergedAfterMs: number;
  readonly simulatedMs: number;
  /** Internal errors counted by every node (bad messages, failed chores): 0 in a healthy run. */
  readonly internalErrors: number;
  /** The node left dead in a repairOnly run. */
  readonly leftDead: string | undefined;
};

export const simPlanetYaml = `
name: sim
zone: sim.test.
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, tiers: { store: 3 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, tiers: { store: 3 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.82, tiers: { store: 3 } }
store: { partitions: 8, rf: 3 }
`;

type Pending = {
  opId: string;
  key: string;
  mutation: Mutation;
  acked: boolean;
  settled: boolean;
  node: string;
  level: (typeof levels)[number];
};

const levels = ["local-quorum", "local-quorum", "global", "global", "local-one", "all"] as const;

export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const planet = options.planet ?? parsePlanet(simPlanetYaml);
  const cluster = new SimCluster({ planet, seed: options.seed, lossRate: options.lossRate ?? 0.01, jitterMs: 5 });
  const rnd = cluster.random;
  const problems: string[] = [];
  const nodeIds = planet.storeNodes.map((n) => n.id);
  const sites = planet.sites.map((s) => s.name);
  const history: Pending[] = [];
  const inflight: Promise<void>[] = [];
  let crashes = 0;
  let partitions = 0;
  let opSeq = 0;
  let uniq = 0;

  await cluster.startAll();
  await cluster.advance(1_500);

  const issue = (p: Pending) => {
    inflight.push(
      cluster
        .mutate(p.node, { key: p.key, mutation: p.mutation, opId: p.opId, consistency: p.level, timeoutMs: 3_000 })
        .then((r) => {
          p.acked = r.ok;
          p.settled = true;
        }),
    );
  };

  const deleted = new Set<string>();
  for (let i = 0; i < options.ops; i++) {
    const roll = rnd.next();
    if (options.faults !== false && roll < 0.03) {
      const live = nodeIds.filter((n) => cluster.isRunning(n));
      if (live.length > 6) {
        // The crash lands at a random instant of the next steps, between deliveries and commits.
        const victim = live[rnd.int(live.length)];
        cluster.clock.setTimer(rnd.next() * 20, () => cluster.crash(victim));
        crashes++;
      }
    } else if (options.faults !== false && roll < 0.06) {
      const dead = nodeIds.filter((n) => !cluster.isRunning(n));
      if (dead.length > 0) await cluster.restart(dead[rnd.int(dead.length)]);
    } else if (options.faults !== false && roll < 0.07) {
      const site = sites[rnd.int(sites.length)];
      const inside = planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
      cluster.network.partition(
        inside,
        nodeIds.filter((n) => !inside.includes(n)),
      );
      partitions++;
    } else if (options.faults !== false && roll < 0.085) {
      cluster.network.heal();
    } else if (roll < 0.12 && history.length > 0) {
      // A client that got no answer retries the same op id at another node.
      const old = history[rnd.int(history.length)];
      const live = nodeIds.filter((n) => cluster.isRunning(n) && n !== old.node);
      if (!old.acked && live.length > 0 && !deleted.has(old.key)) {
        const retry: Pending = {
          ...old,
          node: live[rnd.int(live.length)],
          acked: false,
          settled: false,
          level: "local-quorum",
        };
        history.push(retry);
        issue(retry);
      }
    } else {
      const site = sites[rnd.int(sites.length)];
      const live = planet.storeNodes.filter((n) => n.site === site && cluster.isRunning(n.id));
      if (live.length > 0) {
        const node = live[rnd.int(live.length)].id;
        const kind = rnd.int(5);
        let key: string;
        let mutation: Mutation;
        if (kind === 0) {
          key = `c${rnd.int(6)}`;
          mutation = { kind: "incr", by: 1 + rnd.int(5) };
        } else if (kind === 1) {
          key = `s${rnd.int(4)}`;
          mutation = { kind: "sadd", members: [`m${uniq++}`] };
        } else if (kind === 2) {
          key = `r${rnd.int(4)}`;
          mutation = { kind: "set", value: { v: uniq++ } };
        } else if (kind === 3) {
          key = `cart${rnd.int(3)}`;
          mutation = { kind: "mincr", fields: { [`item${rnd.int(4)}`]: 1 + rnd.int(3) } };
        } else {
          // Keys that get some increments and, later, one delete; never written after it.
          const n = rnd.int(20);
          key = `d${n}`;
          if (deleted.has(key)) continue;
          // Delete only once every earlier op on the key has settled, so none is concurrent with it.
          const earlier = history.filter((h) => h.key === key);
          if (rnd.next() < 0.3 && earlier.some((h) => h.acked) && earlier.every((h) => h.settled)) {
            deleted.add(key);
            mutation = { kind: "del" };
          } else {
            mutation = { kind: "incr", by: 1 };
          }
        }
        const p: Pending = {
          opId: `op${opSeq++}`,
          key,
          mutation,
          acked: false,
          settled: false,
          node,
          level: levels[rnd.int(levels.length)],
        };
        history.push(p);
        issue(p);
        // Now and then the coordinator dies within a millisecond of taking the op: the
        // window between applying it and committing it, where a premature ack would lose it.
        if (options.faults !== false && rnd.next() < 0.02 && nodeIds.filter((n) => cluster.isRunning(n)).length > 6) {
          cluster.clock.setTimer(rnd.next(), () => cluster.crash(node));
          crashes++;
        }
      }
    }
    await cluster.advance(rnd.int(20));
    if (i % 500 === 499) options.onProgress?.(`seed ${options.seed}: ${i + 1}/${options.ops} ops`);
  }

  // Heal everything and let replication, hints, read repair and anti-entropy finish.
  cluster.network.heal();
  for (const id of nodeIds) if (!cluster.isRunning(id)) await cluster.restart(id);
  await cluster.advance(5_000);
  await cluster.settle(Promise.all(inflight));
  let leftDead: string | undefined;
  if (options.repairOnly) {
    leftDead = nodeIds[rnd.int(nodeIds.length)];
    const site = planet.storeNodes.find((n) => n.id === leftDead)!.site;
    const inside = planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
    cluster.network.partition(
      inside,
      nodeIds.filter((n) => !inside.includes(n)),
    );
    const burst: Pending[] = [];
    for (let i = 0; i < 40; i++) {
      const kind = i % 3;
      const p: Pending = {
        opId: `op${opSeq++}`,
        key: kind === 0 ? `c${rnd.int(6)}` : kind === 1 ? `s${rnd.int(4)}` : `r${rnd.int(4)}`,
        mutation:
          kind === 0
            ? { kind: "incr", by: 1 + rnd.int(5) }
            : kind === 1
              ? { kind: "sadd", members: [`m${uniq++}`] }
              : { kind: "set", value: { v: uniq++ } },
        acked: false,
        settled: false,
        node: leftDead,
        level: "local-quorum",
      };
      burst.push(p);
      history.push(p);
      issue(p);
    }
    await cluster.settle(Promise.all(inflight));
    cluster.crash(leftDead);
    cluster.network.heal();
    if (!burst.some((p) => p.acked)) problems.push(`no write of the burst at ${leftDead} was acknowledged`);
  }
  const live = nodeIds.filter((id) => cluster.isRunning(id));
  const healedAt = cluster.clock.nowMs();
  let converged = false;
  for (let waited = 0; waited < 180_000 && !converged; waited += 1_000) {
    await cluster.advance(1_000);
    converged = rootsAgree(cluster, planet, live);
  }
  const convergedAfterMs = cluster.clock.nowMs() - healedAt;
  if (!converged) problems.push("hash trees did not converge within 180 s of simulated time after healing");

  // Every replica must read the same value for every key.
  const keys = [...new Set(history.map((h) => h.key))].sort();
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
  checkAcknowledged(history, values, deleted, problems);

  // Stability: with every node up, tombstones of deleted keys are dropped everywhere (a node
  // left dead holds stability back, rightly: its log may hold what nobody else has).
  await cluster.advance(15_000);
  for (const id of leftDead === undefined ? nodeIds : []) {
    const engine = cluster.engine(id)!;
    if (engine.stable === 0) problems.push(`${id}: stability never advanced`);
    for (const key of deleted) {
      const wasAckedDelete = history.some((h) => h.key === key && h.mutation.kind === "del" && h.acked);
      if (wasAckedDelete && cluster.nodes.get(id)!.storage.getKey(key)) {
        problems.push(`${id}: tombstone of ${key} still stored after stability`);
      }
    }
  }
  const internalErrors = cluster.internalErrors();
  await cluster.stopAll();
  return {
    seed: options.seed,
    problems,
    acked: history.filter((h) => h.acked).length,
    failed: history.filter((h) => !h.acked).length,
    crashes,
    partitions,
    convergedAfterMs,
    simulatedMs: cluster.clock.monoMs(),
    internalErrors,
    leftDead,
  };
}

function rootsAgree(cluster: SimCluster, planet: Planet, nodes: readonly string[]): boolean {
  for (let p = 0; p < planet.store.partitions; p++) {
    const roots = new Set(nodes.map((n) => cluster.engine(n)!.treeRoot(p)));
    if (roots.size > 1) return false;
  }
  return true;
}

function checkAcknowledged(
  history: readonly Pending[],
  values: ReadonlyMap<string, ReadResult>,
  deleted: ReadonlySet<string>,
  problems: string[],
): void {
  const byKey = new Map<string, Pending[]>();
  for (const h of history) byKey.set(h.key, [...(byKey.get(h.key) ?? []), h]);
  for (const [key, ops] of byKey) {
    const v = values.get(key);
    const ackedDelete = ops.some((o) => o.mutation.kind === "del" && o.acked);
    if (deleted.has(key) && ackedDelete) {
      if (v?.exists) problems.push(`${key}: deleted (acknowledged) but reads ${JSON.stringify(v.value)}`);
      continue;
    }
    if (deleted.has(key)) continue; // an unacknowledged delete may or may not have applied
    const distinct = new Map<string, Pending & { anyAck: boolean }>();
    for (const o of ops) {
      const d = distinct.get(o.opId);
      distinct.set(o.opId, { ...o, anyAck: (d?.anyAck ?? false) || o.acked });
    }
    const all = [...distinct.values()];
    const kind = ops[0].mutation.kind;
    if (kind === "incr") {
      const low = all.filter((o) => o.anyAck).reduce((s, o) => s + (o.mutation as { by: number }).by, 0);
      const high = all.reduce((s, o) => s + (o.mutation as { by: number }).by, 0);
      const got = v?.exists ? (v.value as number) : 0;
      if (got < low || got > high) problems.push(`${key}: counter ${got} outside [acked ${low}, attempted ${high}]`);
    } else if (kind === "sadd") {
      const got = new Set(v?.exists ? (v.value as string[]) : []);
      for (const o of all) {
        const m = (o.mutation as { members: readonly string[] }).members[0];
        if (o.anyAck && !got.has(m)) problems.push(`${key}: acknowledged member ${m} lost`);
      }
      const attempted = new Set(all.map((o) => (o.mutation as { members: readonly string[] }).members[0]));
      for (const m of got) if (!attempted.has(m)) problems.push(`${key}: member ${m} never written`);
    } else if (kind === "set") {
      const attempted = all.map((o) => JSON.stringify((o.mutation as { value: unknown }).value));
      if (all.some((o) => o.anyAck) && !v?.exists) problems.push(`${key}: register lost`);
      if (v?.exists && !attempted.includes(JSON.stringify(v.value))) problems.push(`${key}: value never written`);
    } else if (kind === "mincr") {
      const low = new Map<string, number>();
      const high = new Map<string, number>();
      for (const o of all) {
        for (const [f, d] of Object.entries((o.mutation as { fields: Record<string, number> }).fields)) {
          high.set(f, (high.get(f) ?? 0) + d);
          if (o.anyAck) low.set(f, (low.get(f) ?? 0) + d);
        }
      }
      const got = (v?.exists ? v.value : {}) as Record<string, number>;
      for (const [f, h] of high) {
        const g = got[f] ?? 0;
        const l = low.get(f) ?? 0;
        if (g < l || g > h) problems.push(`${key}.${f}: ${g} outside [acked ${l}, attempted ${h}]`);
      }
    }
  }
}
