// Property tests of the CRDT laws on states that a real history produces: several nodes
// coordinate ops on one key, deltas arrive in any order, retries reach other nodes, and
// compaction runs at stable points. Time-budgeted; a failure prints fast-check's seed and
// path, and FC_SEED=<seed> replays it.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { seededRandom } from "../../core/index.ts";
import { type Action, type Mode, type Sent, Sim } from "../testkit/crdt-sim.ts";
import {
  compact,
  contains,
  digest,
  encodeState,
  expiryHlc,
  type KeyState,
  merge,
  type ReadResult,
  read,
} from "./crdt.ts";
import { normalize } from "./crdt-state.ts";
import { cloneState } from "./crdt-types.ts";
import { hlcWallMs } from "./hlc.ts";

const seed = Number(process.env.FC_SEED ?? 20240917);
const budgetMs = Number(process.env.FC_BUDGET_MS ?? 2500);
const params = { seed, numRuns: 100_000, interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false };

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      a: fc.constant("mut" as const),
      node: fc.nat(7),
      pick: fc.nat(63),
      arg: fc.nat(63),
      ttl: fc.nat(31),
      retry: fc.nat(31),
    }),
  },
  { weight: 5, arbitrary: fc.record({ a: fc.constant("deliver" as const), node: fc.nat(7), pick: fc.nat(31) }) },
  { weight: 3, arbitrary: fc.record({ a: fc.constant("compact" as const), node: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("sync" as const), node: fc.nat(7), from: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("tick" as const), ms: fc.nat(3000) }) },
);

const historyArb = fc.record({
  skews: fc.array(fc.integer({ min: -1500, max: 1500 }), { minLength: 2, maxLength: 4 }),
  actions: fc.array(actionArb, { maxLength: 100, size: "max" }),
  order: fc.nat(),
});

// Set histories in which most writes are retries of ops not yet stable, at any node (so at
// other nodes and stamps than their first attempt), with frequent compactions, anti-entropy
// between nodes (whole states, folded or not) and short ticks: stability moves on in small
// steps, so fold points mature while ops still fly.
const retryHeavyActionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      a: fc.constant("mut" as const),
      node: fc.nat(7),
      pick: fc.nat(63),
      arg: fc.nat(63),
      ttl: fc.nat(31),
      retry: fc.oneof({ weight: 2, arbitrary: fc.nat(15).map((x) => x * 4) }, { weight: 1, arbitrary: fc.nat(31) }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ a: fc.constant("deliver" as const), node: fc.nat(7), pick: fc.nat(31) }) },
  { weight: 4, arbitrary: fc.record({ a: fc.constant("compact" as const), node: fc.nat(7) }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant("sync" as const), node: fc.nat(7), from: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant("tick" as const), ms: fc.nat(400) }) },
);

const retryHeavyHistoryArb = fc.record({
  skews: fc.array(fc.integer({ min: -1500, max: 1500 }), { minLength: 2, maxLength: 4 }),
  actions: fc.array(retryHeavyActionArb, { maxLength: 120, size: "max" }),
  order: fc.nat(),
});

type History = { skews: number[]; actions: Action[]; order: number };

function enc(s: KeyState | undefined): string {
  return s ? Buffer.from(encodeState(s)).toString("hex") : "none";
}

function settled(mode: Mode, h: History): Sim {
  const sim = new Sim(mode, h.skews);
  sim.run(h.actions);
  const rnd = seededRandom(h.order);
  sim.settle((n) => rnd.int(n));
  return sim;
}

/** Times every node's clock (and HLC) has reached: expiry is only as precise as the clocks agree. */
function readTimes(sim: Sim): number[] {
  const t = Math.max(...sim.nodes.map((n) => Math.max(n.clock.nowMs(), hlcWallMs(n.hlc.last)))) + 1;
  return [t, t + 3_600_000];
}

/** What the key must read after every delta met, computed from the op history alone (no TTL, one type). */
function oracle(mode: Mode, sent: readonly Sent[]): ReadResult {
  const first = new Map<string, Sent>();
  for (const s of sent) if (!first.has(s.opId) || s.h < (first.get(s.opId) as Sent).h) first.set(s.opId, s);
  const ops = [...first.values()];
  const cleared = Math.max(0, ...sent.filter((s) => s.m.kind === "del").map((s) => s.h));
  const laterOf = (a: Sent, b: Sent) => a.h > b.h || (a.h === b.h && a.opId > b.opId);
  switch (mode) {
    case "reg": {
      let w: Sent | undefined;
      for (const s of ops) if (s.m.kind === "set" && s.h > cleared && (!w || laterOf(s, w))) w = s;
      return w && w.m.kind === "set" ? { exists: true, type: "reg", value: w.m.value } : { exists: false };
    }
    case "counter": {
      const th = Math.max(0, ...sent.filter((s) => s.m.kind === "incr").map((s) => s.h));
      let sum = 0;
      for (const s of ops) if (s.m.kind === "incr" && s.h > cleared) sum += s.m.by;
      return th > cleared ? { exists: true, type: "counter", value: sum } : { exists: false };
    }
    case "set": {
      const removed = new Set<string>();
      for (const s of sent) for (const x of s.observed) removed.add(x);
      const members = new Set<string>();
      for (const s of ops) {
        if (s.m.kind !== "sadd" || s.h <= cleared) continue;
        for (const e of s.m.members) if (!removed.has(`${s.opId}/${e}`)) members.add(e);
      }
      return members.size > 0 ? { exists: true, type: "set", value: [...members].sort() } : { exists: false };
    }
    default: {
      const value: Record<string, unknown> = {};
      for (const f of ["x", "y", "z"]) {
        let fdel = cleared;
        for (const s of sent) {
          if ((s.m.kind === "mdel" && s.m.fields.includes(f)) || (s.m.kind === "mset" && s.m.fields[f] === null)) {
            fdel = Math.max(fdel, s.h);
          }
        }
        let r: Sent | undefined;
        const adds: [number, number][] = [];
        for (const s of ops) {
          if (s.h <= fdel) continue;
          if (s.m.kind === "mset" && f in s.m.fields && s.m.fields[f] !== null && (!r || laterOf(s, r))) r = s;
          if (s.m.kind === "mincr" && f in s.m.fields) adds.push([s.h, s.m.fields[f]]);
        }
        const rv = r?.m.kind === "mset" ? r.m.fields[f] : undefined;
        if (r && typeof rv !== "number") value[f] = rv;
        else if (r) value[f] = (rv as number) + adds.filter(([h]) => h > r.h).reduce((a, [, d]) => a + d, 0);
        else if (adds.length > 0) value[f] = adds.reduce((a, [, d]) => a + d, 0);
      }
      return Object.keys(value).length > 0 ? { exists: true, type: "map", value } : { exists: false };
    }
  }
}

function checkConverged(sim: Sim): void {
  for (const t of readTimes(sim)) {
    const expected = read(sim.reference, t);
    for (const [i, n] of sim.nodes.entries()) assert.deepEqual(read(n.state, t), expected, `node ${i} at ${t}`);
  }
  const first = sim.nodes[0].state;
  for (const [i, n] of sim.nodes.entries()) {
    assert.equal(digest(n.state), digest(first), `digest of node ${i}`);
  }
}

/** Compactions checked for idempotence (states with no expiry). */
const idempotence = { checked: 0 };

function checkCompactionsKeptReads(sim: Sim): void {
  for (const c of sim.compactions) {
    const t = hlcWallMs(c.nowH);
    // Compaction at a point is idempotent for a state that never had an expiry
    // (replication/settled.ts skips it for its own results), at a later HLC too, when its HLC
    // was past the point (the engine's always is: it observed the gossip that taught it).
    if (c.after && c.after.eh === 0 && c.after.exp === 0 && c.nowH > c.stable) {
      assert.equal(enc(compact(c.after, c.stable, c.nowH + 1_000)), enc(c.after), "compaction again at the same point");
      idempotence.checked++;
    }
    for (const at of [t, t + 1, t + 60_000])
      assert.deepEqual(read(c.after, at), read(c.before, at), "compaction changed a read");
  }
}

for (const mode of ["reg", "counter", "set", "map"] as const) {
  test(`crdt props - ${mode}: every replica reads what the op history says once all deltas met, retries count once, deletes never resurrect`, (t) => {
    t.diagnostic(`seed ${seed}`);
    fc.assert(
      fc.property(historyArb, (h) => {
        const sim = settled(mode, h);
        checkConverged(sim);
        checkCompactionsKeptReads(sim);
        const expected = oracle(mode, sim.sent);
        for (const at of readTimes(sim)) assert.deepEqual(read(sim.reference, at), expected);
      }),
      params,
    );
    assert.ok(idempotence.checked > 0, "compactions were checked for idempotence");
  });
}

for (const mode of ["mixed", "ttl"] as const) {
  const what = mode === "mixed" ? "mixed types with TTLs" : "short TTLs set and cleared concurrently";
  test(`crdt props - ${what}: replicas converge to the same reads and digests; compaction never changes a read`, (t) => {
    t.diagnostic(`seed ${seed}`);
    fc.assert(
      fc.property(historyArb, (h) => {
        const sim = settled(mode, h);
        checkConverged(sim);
        checkCompactionsKeptReads(sim);
      }),
      params,
    );
  });
}

test("crdt props - expiry: once the last write is older than its expiry, the key reads absent at every replica", (t) => {
  t.diagnostic(`seed ${seed}`);
  fc.assert(
    fc.property(historyArb, (h) => {
      const sim = settled("mixed", h);
      const s = sim.reference;
      if (!s || s.exp === 0 || s.th > expiryHlc(s.exp)) return;
      const at = Math.max(s.exp, readTimes(sim)[0]);
      for (const n of sim.nodes) assert.deepEqual(read(n.state, at), { exists: false });
    }),
    params,
  );
});

test("crdt props - set with retries everywhere: a retry adds nothing that its first attempt did not, replicas converge, and once quiet each element has one live add", (t) => {
  t.diagnostic(`seed ${seed}`);
  fc.assert(
    fc.property(retryHeavyHistoryArb, (h) => {
      const sim = settled("set", h);
      checkConverged(sim);
      checkCompactionsKeptReads(sim);
      const expected = oracle("set", sim.sent);
      for (const at of readTimes(sim)) assert.deepEqual(read(sim.reference, at), expected);
      for (const [i, n] of sim.nodes.entries()) {
        const elements = Object.values(n.state?.ops ?? {}).map((op) => op.e);
        assert.equal(new Set(elements).size, elements.length, `node ${i} holds one live add per element`);
      }
    }),
    params,
  );
});

/** How often `contains` answered yes, and how often it said no where the merge changed nothing. */
const containment = { hits: 0, misses: 0 };

/** Merge laws over the states a history passes through: every node's, the reference's and the latest deltas. */
function checkMergeLaws(sim: Sim, h: History, every: number): void {
  const same = (x: KeyState | undefined, y: KeyState | undefined, what: string) => assert.equal(enc(x), enc(y), what);
  h.actions.forEach((act, i) => {
    sim.step(act);
    if (i % (every + 8) !== 0) return;
    const pool: (KeyState | undefined)[] = [undefined, sim.reference, ...sim.nodes.map((n) => n.state)];
    for (const s of sim.sent.slice(-2)) pool.push(s.delta);
    for (const a of pool) {
      same(merge(a, a), a && merge(a, undefined), "idempotent");
      for (const b of pool) {
        same(merge(a, b), merge(b, a), "commutative");
        // A merge normalizes only one side's ops when the other's are sure to stay live: a
        // full normalize of its result must find nothing more to drop.
        const merged = merge(a, b);
        if (merged) {
          const full = cloneState(merged);
          normalize(full);
          same(full, merged, "merge normalized everything a full normalize would");
        }
        // The fast path of a replica's merge: "contained" must mean the merge changes nothing.
        if (a && b && contains(a, b)) {
          same(merge(a, b), a, "contains(a, b): merge(a, b) is a");
          containment.hits++;
        } else if (a && b && enc(merge(a, b)) === enc(a)) containment.misses++;
        for (const c of pool) same(merge(merge(a, b), c), merge(a, merge(b, c)), "associative");
      }
    }
  });
}

test("crdt props - merge is commutative, associative and idempotent on set states with retries of one op id at several nodes and stamps, folded or not", (t) => {
  t.diagnostic(`seed ${seed}`);
  fc.assert(
    fc.property(retryHeavyHistoryArb, fc.nat(7), (h, every) => checkMergeLaws(new Sim("set", h.skews), h, every)),
    { ...params, interruptAfterTimeLimit: budgetMs * 1.5 },
  );
});

test("crdt props - merge is commutative, associative and idempotent on the states of a shared history", (t) => {
  t.diagnostic(`seed ${seed}`);
  fc.assert(
    fc.property(historyArb, fc.nat(7), (h, every) => checkMergeLaws(new Sim("mixed", h.skews), h, every)),
    { ...params, interruptAfterTimeLimit: budgetMs * 1.5 },
  );
  t.diagnostic(`contains: ${containment.hits} yes, ${containment.misses} no where the merge changed nothing`);
  assert.ok(containment.hits > containment.misses, "contains recognises most states that add nothing");
});
