// The simulation's workload: clients in every site issue counters, sets, registers, carts,
// deletes, removes, map ops and TTL writes at random consistency levels (and retry some with
// the same op id at another node, some long after) while the nemesis crashes and restarts
// nodes, partitions sites and drops messages, every node's wall clock off by a seeded skew.
// Sessions read their own writes at any node all along (sim-sessions.ts), and expired keys
// are read as gone as soon as every clock has passed their expiry. Then everything heals and
// the checker asks: did every replica converge, is every acknowledged write there (and every
// acknowledged delete gone, every TTL expired), and does every op id, retried 30 s later in
// another site, count exactly once?
import { seededRandom } from "../../core/index.ts";
import { type Planet, parsePlanet } from "../../topology/index.ts";
import type { Mutation, SessionToken } from "../api-types.ts";
import { hlcWallMs } from "../crdt/hlc.ts";
import { mergeSessionTokens } from "../replication/session-encoding.ts";
import { type Attempt, checkAcknowledged, familyOf, sharedSetMembers } from "./sim-checks.ts";
import { SimCluster } from "./sim-cluster.ts";
import {
  checkExactlyOnce,
  converge,
  metricValue,
  readEverywhere,
  repairsOf,
  retryLate,
  rootsAgree,
} from "./sim-end.ts";
import { SimSessions } from "./sim-sessions.ts";

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
  /**
   * Each node's wall clock is off by up to this much either way (default 400 ms: within
   * what the store tolerates without even counting a peer as ahead, hlcAheadCountMs).
   */
  readonly skewMsMax?: number;
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
  /** Session reads that succeeded and were checked against the session's writes, during the run. */
  readonly sessionReadsChecked: number;
  readonly sessionReadFailures: Readonly<Record<string, number>>;
  /** Reads of expired keys checked as gone during the run. */
  readonly expiryReadsChecked: number;
  /** Op ids retried 30 s after the run, and how many of them were answered as duplicates. */
  readonly lateRetries: number;
  readonly lateDuplicates: number;
  /** Keys repaired by anti-entropy from healing to convergence (repairOnly runs: must be > 0). */
  readonly antiEntropyRepairs: number;
  /** How far the planet's HLC ran ahead of true time at most (clock skew, and restarts: a restarted node resumes at its lease ceiling). */
  readonly hlcAheadMsMax: number;
  /** Stream batches the live nodes passed on as relays, and streams they sent direct for a while instead (their relay failed them). */
  readonly relayedBatches: number;
  readonly relayFallbacks: number;
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

const levels = ["local-quorum", "local-quorum", "global", "global", "local-one", "all"] as const;

export async function runSimulation(options: SimulationOptions): Promise<SimulationReport> {
  const planet = options.planet ?? parsePlanet(simPlanetYaml);
  const skewMsMax = options.skewMsMax ?? 400;
  const cluster = new SimCluster({
    planet,
    seed: options.seed,
    lossRate: options.lossRate ?? 0.01,
    jitterMs: 5,
    skewMsMax,
    driftPpmMax: 100,
  });
  const rnd = cluster.random;
  const problems: string[] = [];
  const nodeIds = planet.storeNodes.map((n) => n.id);
  const sites = planet.sites.map((s) => s.name);
  const siteOf = new Map(planet.storeNodes.map((n) => [n.id, n.site]));
  const history: Attempt[] = [];
  const inflight: Promise<void>[] = [];
  const sessions = new SimSessions(cluster, seededRandom(options.seed ^ 0x5e55), 12, skewMsMax, problems);
  let crashes = 0;
  let partitions = 0;
  let opSeq = 0;
  let uniq = 0;
  let expiryReadsChecked = 0;
  /** How far the planet's HLC ran ahead of true time, at most (seen at TTL writes). */
  let hlcAheadMsMax = 0;

  await cluster.startAll();
  await cluster.advance(1_500);

  const issue = (p: Attempt) => {
    inflight.push(
      cluster
        .mutate(p.node, {
          key: p.key,
          mutation: p.mutation,
          opId: p.opId,
          consistency: p.level,
          token: p.sentToken,
          timeoutMs: 3_000,
        })
        .then((r) => {
          p.acked = r.ok;
          if (r.ok) p.token = r.value.token;
          p.settled = true;
          p.settledMs = cluster.clock.monoMs();
        }),
    );
  };
  // An expiry counts from the later of the coordinator's wall clock and its HLC, and an HLC
  // may run ahead of every wall clock (a restarted node resumes at its lease ceiling): so
  // the expiry has passed on every clock once true time is past the most any clock or HLC
  // said at the write, plus the TTL, plus one skew (the reader's clock may lag).
  const expiresBy = (mutation: Mutation): number => {
    if (!mutation.ttlS) return Number.POSITIVE_INFINITY;
    let aheadMs = cluster.clock.nowMs() + skewMsMax;
    for (const id of nodeIds) {
      const engine = cluster.engine(id);
      if (engine) aheadMs = Math.max(aheadMs, hlcWallMs(engine.hlcLast));
    }
    hlcAheadMsMax = Math.max(hlcAheadMsMax, aheadMs - cluster.clock.nowMs());
    return aheadMs + mutation.ttlS * 1_000 + skewMsMax + 100;
  };
  const attempt = (
    node: string,
    key: string,
    mutation: Mutation,
    level: Attempt["level"],
    sentToken?: SessionToken,
  ): Attempt => {
    const p: Attempt = {
      opId: `op${opSeq++}`,
      key,
      mutation,
      acked: false,
      settled: false,
      node,
      level,
      issuedMs: cluster.clock.monoMs(),
      settledMs: 0,
      expiresByMs: expiresBy(mutation),
      sentToken,
    };
    history.push(p);
    issue(p);
    return p;
  };

  // A key whose every attempt expired by every clock reads as gone, at any node.
  const checkExpired = (i: number) => {
    const nowMs = cluster.clock.monoMs();
    const expiredKeys: string[] = [];
    const allExpired = (key: string): boolean => {
      const attempts = history.filter((h) => h.key === key);
      return attempts.length > 0 && attempts.every((a) => cluster.clock.nowMs() > a.expiresByMs);
    };
    for (let k = 0; k <= Math.floor(i / 100); k++) if (allExpired(`tx${k}`)) expiredKeys.push(`tx${k}`);
    if (expiredKeys.length === 0) return;
    const key = expiredKeys[rnd.int(expiredKeys.length)];
    const live = nodeIds.filter((n) => cluster.isRunning(n));
    if (live.length === 0) return;
    const node = live[rnd.int(live.length)];
    inflight.push(
      cluster.read(node, { key, consistency: "local-one", timeoutMs: 3_000 }).then((r) => {
        if (!r.ok) return;
        // A write of the key issued while the read waited (a retry of an old op id at a node
        // that never saw it applies it anew, with a fresh TTL) may rightly be seen.
        if (!allExpired(key)) return;
        expiryReadsChecked++;
        if (r.value.value.exists)
          problems.push(
            `${key} read at ${node} at t=${nowMs} ms as ${JSON.stringify(r.value.value.value)}, though every write of it expired by every clock`,
          );
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
      // A client that got no answer retries the same op id at another node; now and then
      // one retries an op that was answered, long after (a page reload).
      const old = history[rnd.int(history.length)];
      const live = nodeIds.filter((n) => cluster.isRunning(n) && n !== old.node);
      const retryable = !old.acked || (old.settled && cluster.clock.monoMs() - old.settledMs > 2_000);
      if (retryable && old.settled && live.length > 0 && !deleted.has(old.key)) {
        const retry: Attempt = {
          ...old,
          node: live[rnd.int(live.length)],
          acked: false,
          settled: false,
          level: "local-quorum",
          issuedMs: cluster.clock.monoMs(),
          settledMs: 0,
          expiresByMs: expiresBy(old.mutation),
          token: undefined,
        };
        history.push(retry);
        issue(retry);
      }
    } else if (roll < 0.32) {
      sessions.step(inflight);
    } else if (roll < 0.35) {
      checkExpired(i);
    } else {
      const site = sites[rnd.int(sites.length)];
      const live = planet.storeNodes.filter((n) => n.site === site && cluster.isRunning(n.id));
      if (live.length > 0) {
        const node = live[rnd.int(live.length)].id;
        const level = levels[rnd.int(levels.length)];
        const kind = rnd.int(10);
        let key: string;
        let mutation: Mutation;
        let deleteToken: SessionToken | undefined;
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
        } else if (kind === 4) {
          // Keys that get some increments and, later, one delete; never written after it.
          const n = rnd.int(20);
          key = `d${n}`;
          if (deleted.has(key)) continue;
          // Delete only once every earlier op on the key has settled, with the tokens of the
          // acknowledged ones: a delete is ordered after what it was stamped after, and being
          // issued later in true time is not enough (see checkDeleted).
          const earlier = history.filter((h) => h.key === key);
          if (rnd.next() < 0.3 && earlier.some((h) => h.acked) && earlier.every((h) => h.settled)) {
            deleted.add(key);
            mutation = { kind: "del" };
            deleteToken = earlier.reduce<SessionToken | undefined>((t, h) => mergeSessionTokens(t, h.token), undefined);
          } else {
            mutation = { kind: "incr", by: 1 };
          }
        } else if (kind === 5) {
          // Adds and removes of the same few elements, from every site at once.
          key = `xs${rnd.int(3)}`;
          const member = sharedSetMembers[rnd.int(sharedSetMembers.length)];
          mutation = rnd.next() < 0.4 ? { kind: "srem", members: [member] } : { kind: "sadd", members: [member] };
        } else if (kind === 6) {
          // Increments and deletes of the same counters, from every site at once.
          key = `xc${rnd.int(3)}`;
          mutation = rnd.next() < 0.2 ? { kind: "del" } : { kind: "incr", by: 1 + rnd.int(3) };
        } else if (kind === 7) {
          key = `xm${rnd.int(2)}`;
          const r = rnd.int(6);
          mutation =
            r < 2
              ? { kind: "mset", fields: { [rnd.next() < 0.5 ? "p" : "q"]: { v: uniq++ } } }
              : r < 5
                ? { kind: "mincr", fields: { [rnd.next() < 0.5 ? "u" : "v"]: 1 + rnd.int(3) } }
                : { kind: "mdel", fields: [["p", "q", "u", "v"][rnd.int(4)]] };
        } else if (kind === 8) {
          // Each TTL key is written for about a second, then only read: gone once expired.
          key = `tx${Math.floor(i / 100)}`;
          mutation = { kind: "incr", by: 1, ttlS: 1 + rnd.int(3) };
        } else {
          // An hour's TTL, refreshed by some writes and kept by others: must not expire.
          key = `tl${rnd.int(3)}`;
          mutation = rnd.next() < 0.5 ? { kind: "incr", by: 1, ttlS: 3_600 } : { kind: "incr", by: 1 };
        }
        attempt(node, key, mutation, level, deleteToken);
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

  // Heal everything and let replication, hints, read repair and anti-entropy finish. First
  // let the crashes scheduled by the last steps land (within 20 ms), so none of them takes
  // a node down after the restarts below.
  await cluster.advance(20);
  cluster.network.heal();
  for (const id of nodeIds) if (!cluster.isRunning(id)) await cluster.restart(id);
  await cluster.advance(5_000);
  await cluster.settle(Promise.all(inflight));
  let leftDead: string | undefined;
  if (options.repairOnly) {
    leftDead = nodeIds[rnd.int(nodeIds.length)];
    const site = siteOf.get(leftDead)!;
    const inside = planet.storeNodes.filter((n) => n.site === site).map((n) => n.id);
    cluster.network.partition(
      inside,
      nodeIds.filter((n) => !inside.includes(n)),
    );
    // A lost message may just have broken the node's links to its site-mates (each comes
    // back within a second): the burst waits for them, so it is acknowledged and there is
    // something for repair to carry.
    const mates = inside.filter((n) => n !== leftDead);
    for (let w = 0; w < 300 && !mates.every((n) => cluster.network.isLinkUp(leftDead!, n)); w++) {
      await cluster.advance(10);
    }
    const burst: Attempt[] = [];
    for (let i = 0; i < 40; i++) {
      const kind = i % 4;
      const mutation: Mutation =
        kind === 0
          ? { kind: "incr", by: 1 + rnd.int(5) }
          : kind === 1
            ? { kind: "sadd", members: [`m${uniq++}`] }
            : kind === 2
              ? { kind: "set", value: { v: uniq++ } }
              : { kind: "mincr", fields: { [`item${rnd.int(4)}`]: 1 } };
      const key = ["c", "s", "r", "cart"][kind] + rnd.int(kind === 3 ? 3 : 4);
      burst.push(attempt(leftDead, key, mutation, "local-quorum"));
      // Spread over 400 ms: issued in one instant, the whole burst fails fast when a lost
      // message happens to have broken both of the node's links to its site-mates then
      // (each reconnects within a second).
      await cluster.advance(10);
    }
    await cluster.settle(Promise.all(inflight));
    cluster.crash(leftDead);
    cluster.network.heal();
    if (!burst.some((p) => p.acked)) problems.push(`no write of the burst at ${leftDead} was acknowledged`);
    const survivors = nodeIds.filter((id) => cluster.isRunning(id));
    if (rootsAgree(cluster, planet, survivors)) problems.push("the survivors agreed at once: repair had nothing to do");
  }
  const live = nodeIds.filter((id) => cluster.isRunning(id));
  // From here on no client reads (no read repair): whatever is repaired, anti-entropy did.
  const repairsBefore = live.reduce((sum, id) => sum + repairsOf(cluster, id), 0);
  const convergedAfterMs = await converge(cluster, planet, live, problems);
  const antiEntropyRepairs = live.reduce((sum, id) => sum + repairsOf(cluster, id), 0) - repairsBefore;
  if (options.repairOnly && antiEntropyRepairs === 0)
    problems.push("anti-entropy repaired nothing: what carried the burst?");

  const keys = [...new Set(history.map((h) => h.key))].sort();
  const values = await readEverywhere(cluster, [...keys, ...sessions.keys()], live, problems);
  checkAcknowledged(history, values, deleted, problems);
  await sessions.checkFinal(live);
  for (const key of keys.filter((k) => familyOf(k) === "tx")) {
    if (values.get(key)?.exists) problems.push(`${key}: expired long ago but reads ${JSON.stringify(values.get(key))}`);
  }

  // Thirty seconds later, every op id of the counters and carts is retried in another site
  // (until answered): an op that was acknowledged is a duplicate, and afterwards each counter
  // is exactly the sum of its distinct ops (each applied once, none lost, none twice).
  // A calm network now: what is checked is the dedup, not the nemesis.
  cluster.network.setLossRate(0);
  await cluster.advance(30_000);
  const late = await retryLate(cluster, history, live, siteOf, problems);
  await converge(cluster, planet, live, problems);
  const after = await readEverywhere(cluster, keys, live, problems);
  checkExactlyOnce(history, after, problems);
  // An expired key takes a new write afresh: only the new increment counts.
  for (const key of keys.filter((k) => familyOf(k) === "tx")) {
    const node = live[rnd.int(live.length)];
    let r: Awaited<ReturnType<SimCluster["mutate"]>> | undefined;
    for (let tries = 0; tries < 3 && !r?.ok; tries++) {
      r = await cluster.settle(
        cluster.mutate(node, {
          key,
          mutation: { kind: "incr", by: 7, ttlS: 3_600 },
          opId: `fresh-${key}`,
          consistency: "local-quorum",
        }),
      );
    }
    if (!r?.ok) problems.push(`a fresh write of expired ${key} at ${node} failed: ${r?.error.message}`);
    else if (r.value.value.value !== 7)
      problems.push(`${key}: after expiry a write of 7 reads ${JSON.stringify(r.value.value)}`);
  }

  // Stability: with every node up, tombstones of deleted keys are dropped everywhere (a node
  // left dead holds stability back, rightly: its log may hold what nobody else has).
  await cluster.advance(15_000);
  for (const id of leftDead === undefined ? nodeIds : []) {
    const engine = cluster.engine(id)!;
    if (engine.stable === 0) problems.push(`${id}: stability never advanced`);
    for (const key of deleted) {
      const wasAckedDelete = history.some((h) => h.key === key && h.mutation.kind === "del" && h.acked);
      // (A write never acknowledged may have been stamped after the delete: see checkDeleted.)
      if (wasAckedDelete && !values.get(key)?.exists && cluster.nodes.get(id)!.storage.getKey(key)) {
        problems.push(`${id}: tombstone of ${key} still stored after stability`);
      }
    }
  }
  // Skew within the tolerance: no node ignored a peer's clock. (Some count peers "ahead":
  // a restarted node resumes at its lease ceiling, hlcLeaseMs past its wall clock.)
  for (const id of live) {
    const n = metricValue(cluster.engine(id)!.metricsText(), 'redshirt_store_hlc_remote_stamps{kind="rejected"}');
    if (n > 0) problems.push(`${id}: ${n} remote stamps rejected with clocks within ${skewMsMax} ms`);
  }
  const internalErrors = cluster.internalErrors();
  let relayedBatches = 0;
  let relayFallbacks = 0;
  for (const id of live) {
    const text = cluster.engine(id)!.metricsText();
    relayedBatches += metricValue(text, 'redshirt_store_relay_batches_total{role="passed"}');
    for (const reason of ["unreachable", "timeout", "relay-timeout"]) {
      relayFallbacks += metricValue(text, `redshirt_store_relay_fallbacks_total{reason="${reason}"}`);
    }
  }
  await cluster.stopAll();
  return {
    seed: options.seed,
    problems,
    acked: history.filter((h) => h.acked).length + sessions.stats.writesAcked,
    failed: history.filter((h) => !h.acked).length + sessions.stats.writes - sessions.stats.writesAcked,
    crashes,
    partitions,
    convergedAfterMs,
    simulatedMs: cluster.clock.monoMs(),
    internalErrors,
    leftDead,
    sessionReadsChecked: sessions.stats.readsChecked,
    sessionReadFailures: sessions.stats.readFailures,
    expiryReadsChecked,
    lateRetries: late.retried,
    lateDuplicates: late.duplicates,
    antiEntropyRepairs,
    hlcAheadMsMax,
    relayedBatches,
    relayFallbacks,
  };
}
