// The monkey's planner and scheduler on a manual clock with a seeded generator: the same seed
// replays the same schedule; faults arrive at about the asked rate; at no moment do the held
// faults break a limit (one site down and never the last one, one store node per site, one
// partition, the fault cap); each fault's end comes at its TTL on the caller's clock. The
// injection is the runner's one dependency: here it answers a record at once, as a
// supervisor that applied the fault would (the real path: test/chaos.test.ts). Nothing here
// binds an address: the subnets are data.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../core/index.ts";
import { parsePlanet } from "../topology/index.ts";
import type { FaultEndRecord, FaultRecord } from "../verify/index.ts";
import { createMonkey, monkeyLimitsDefault, planFault, storeNodesDownBy, withinLimits } from "./monkey.ts";
import type { FaultSpec } from "./spec.ts";

const planet = parsePlanet(`name: monkey
zone: monkey.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.90.0.0/16, tiers: { store: 3, app: 2, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 10, lon: 10, subnet: 127.91.0.0/16, tiers: { store: 3, app: 2, gateway: 1, dns: 1 } }
  - { name: c, city: C, lat: 20, lon: 20, subnet: 127.92.0.0/16, tiers: { store: 3, app: 2, gateway: 1, dns: 1 } }
store: { partitions: 8, rf: 3 }
wan: { mode: emulated }
`);

type Run = { records: (FaultRecord | FaultEndRecord)[]; specs: (FaultSpec & { site: string })[] };

/** Lets the runner's awaited injections settle between clock steps. */
async function runMonkeyAsync(seed: number, durationMs: number, ratePerMin?: number, ttlMs?: number): Promise<Run> {
  const clock = new ManualClock();
  const out: Run = { records: [], specs: [] };
  let n = 0;
  const monkey = createMonkey(
    planet,
    clock,
    async (spec) => {
      out.specs.push(spec as FaultSpec & { site: string });
      return {
        type: "fault",
        id: `f${++n}`,
        kind: spec.kind,
        target: { site: spec.site ?? "?" },
        startMs: clock.monoMs(),
        ttlMs: spec.ttlMs,
      };
    },
    { seed, ratePerMin: ratePerMin ?? 60, ttlMs: ttlMs ?? 20_000, onFault: (r) => out.records.push(r) },
  );
  for (let t = 0; t < durationMs; t += 100) {
    clock.advance(100);
    await new Promise((r) => setImmediate(r));
  }
  await monkey.stop();
  return out;
}

test("monkey - the same seed replays the same schedule; another seed gives another", async () => {
  const a = await runMonkeyAsync(42, 300_000);
  const b = await runMonkeyAsync(42, 300_000);
  const c = await runMonkeyAsync(43, 300_000);
  assert.ok(a.specs.length > 20, `${a.specs.length} faults`);
  assert.deepEqual(b.specs, a.specs);
  assert.deepEqual(
    b.records.map((r) => [r.type, r.type === "fault" ? r.startMs : r.endMs]),
    a.records.map((r) => [r.type, r.type === "fault" ? r.startMs : r.endMs]),
  );
  assert.notDeepEqual(c.specs, a.specs);
});

test("monkey - faults come at about the asked rate when limits do not hold them back", async () => {
  // TTL 1 s at 30/min: rarely more than one held, so the limits seldom block a turn.
  const r = await runMonkeyAsync(5, 600_000, 30, 1_000);
  const injected = r.records.filter((x) => x.type === "fault").length;
  // 300 expected over 10 minutes; a Poisson count stays within ±20 % with overwhelming odds.
  assert.ok(injected > 240 && injected < 360, `${injected} faults in 10 min at 30/min`);
});

test("monkey - at no moment do the held faults break a limit: one site down and never the last, one store node per site, one partition", async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = await runMonkeyAsync(seed, 600_000, 120, 30_000);
    assert.ok(r.specs.length > 30, `seed ${seed}: ${r.specs.length} faults`);
    // Replay the held set on the records' own clock and check it after every start.
    const held: { spec: FaultSpec & { site: string }; endsAtMs: number }[] = [];
    const starts = r.records.filter((x): x is FaultRecord => x.type === "fault");
    starts.forEach((rec, i) => {
      for (let k = held.length - 1; k >= 0; k--) if (held[k].endsAtMs <= rec.startMs) held.splice(k, 1);
      held.push({ spec: r.specs[i], endsAtMs: rec.startMs + rec.ttlMs });
      const down = new Set(held.filter((h) => h.spec.kind === "kill-site").map((h) => h.spec.site));
      assert.ok(down.size <= 1, `seed ${seed}: ${down.size} sites down`);
      assert.ok(held.filter((h) => h.spec.kind === "partition").length <= 1, `seed ${seed}: two partitions`);
      assert.ok(held.length <= monkeyLimitsDefault.faultsMax, `seed ${seed}: ${held.length} faults held`);
      for (const site of ["a", "b", "c"]) {
        const nodes = new Set(
          held
            .filter((h) => h.spec.site === site && h.spec.kind !== "clock-skew" && h.spec.kind !== "kill-site")
            .flatMap((h) => storeNodesDownBy(planet, h.spec)),
        );
        assert.ok(nodes.size <= 1, `seed ${seed}: ${[...nodes]} down in ${site}`);
      }
    });
    const kinds = new Set(r.specs.map((s) => s.kind));
    assert.ok(kinds.size >= 6, `seed ${seed}: only ${[...kinds]}`);
  }
});

test("monkey - each fault's end record comes at its TTL on the caller's clock", async () => {
  const r = await runMonkeyAsync(9, 120_000, 20, 7_000);
  const starts = new Map(r.records.filter((x) => x.type === "fault").map((x) => [x.id, x as FaultRecord]));
  const ends = r.records.filter((x): x is FaultEndRecord => x.type === "fault-end");
  assert.ok(ends.length > 10);
  for (const e of ends) {
    const s = starts.get(e.id);
    assert.ok(s, e.id);
    assert.equal(e.reason, "ttl");
    assert.ok(Math.abs(e.endMs - (s.startMs + 7_000)) <= 100, `${e.id}: ended at ${e.endMs}, started ${s.startMs}`);
  }
});

test("monkey - the planner never takes the last serving site, nor a second store node of a site", () => {
  const two = parsePlanet(`name: two
zone: two.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.93.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 10, lon: 10, subnet: 127.94.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1 }
`);
  const limits = { ...monkeyLimitsDefault, sitesDownMax: 5 };
  const aDown = [{ id: "x", kind: "kill-site" as const, site: "a", storeNodes: ["a-store1"], endsAtMs: 1e9 }];
  assert.equal(
    withinLimits(two, limits, aDown, { kind: "kill-site", site: "b", ttlMs: 1 }),
    false,
    "b is the last site",
  );
  assert.equal(withinLimits(two, limits, [], { kind: "kill-site", site: "b", ttlMs: 1 }), true);
  const node = [{ id: "y", kind: "empty-disk" as const, site: "a", storeNodes: ["a-store1"], endsAtMs: 1e9 }];
  const three = planet;
  const nodeDown = [{ id: "z", kind: "pause" as const, site: "a", storeNodes: ["a-store1"], endsAtMs: 1e9 }];
  assert.equal(
    withinLimits(three, monkeyLimitsDefault, nodeDown, { kind: "empty-disk", site: "a", node: "a-store2", ttlMs: 1 }),
    false,
  );
  assert.equal(
    withinLimits(three, monkeyLimitsDefault, nodeDown, { kind: "empty-disk", site: "b", node: "b-store2", ttlMs: 1 }),
    true,
  );
  assert.equal(
    withinLimits(three, monkeyLimitsDefault, nodeDown, { kind: "kill-tier", site: "a", tier: "store", ttlMs: 1 }),
    false,
  );
  assert.equal(
    withinLimits(two, monkeyLimitsDefault, node, {
      kind: "clock-skew",
      site: "a",
      node: "a-store1",
      offsetMs: 5,
      ttlMs: 1,
    }),
    true,
    "a skew keeps its node serving",
  );
  // With only kill-site allowed and a site already down, a turn is blocked, never forced.
  const plan = planFault({
    planet: two,
    random: seededRandom(1),
    kinds: ["kill-site"],
    limits,
    sites: ["a", "b"],
    active: aDown,
    ttlMs: 1,
  });
  assert.ok("blocked" in plan);
});

test("monkey - bad options are refused naming the field", () => {
  const clock = new ManualClock();
  const inject = async () => assert.fail("nothing is injected");
  assert.throws(() => createMonkey(planet, clock, inject, { seed: 1, ratePerMin: 0, ttlMs: 1 }), /rate/);
  assert.throws(() => createMonkey(planet, clock, inject, { seed: 1.5, ratePerMin: 1, ttlMs: 1 }), /seed/);
  assert.throws(
    () => createMonkey(planet, clock, inject, { seed: 1, ratePerMin: 1, ttlMs: { minMs: 5, maxMs: 1 } }),
    /ttl/,
  );
  assert.throws(
    () => createMonkey(planet, clock, inject, { seed: 1, ratePerMin: 1, ttlMs: 1, sites: ["zz"] }),
    /sites/,
  );
});
