// What the simulation may expect of a deleted key (found by seed 1009: an increment
// acknowledged in New York, a delete issued in London 36 ms later but stamped 20 HLC ticks
// before it, and the key read 1 at the end). A delete clears the writes it was stamped after
// (docs/store.md), not those answered before it was issued: only a token orders it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import type { ReadResult } from "../api-types.ts";
import { type Attempt, checkDeleted } from "./sim-checks.ts";
import { SimCluster } from "./sim-cluster.ts";
import { simPlanetYaml } from "./sim-workload.ts";

async function incrementThenDelete(withToken: boolean): Promise<ReadResult[]> {
  // New York's clock runs ahead, London's lags: London stamps before what New York just did.
  const skews: Record<string, number> = { "nyc-store1": 300, "lon-store1": -300 };
  const c = new SimCluster({
    planet: parsePlanet(simPlanetYaml),
    seed: 3,
    skewOf: (id) => ({ offsetMs: skews[id] ?? 0, driftPpm: 0 }),
  });
  try {
    await c.startAll();
    await c.advance(1_500);
    const key = "d2";
    // London has not heard of the increment when it coordinates the delete.
    const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
    c.network.partition(
      nyc,
      c.planet.storeNodes.map((n) => n.id).filter((id) => !nyc.includes(id)),
    );
    const incr = await c.settle(
      c.mutate("nyc-store1", { key, mutation: { kind: "incr", by: 1 }, opId: "i1", consistency: "local-quorum" }),
    );
    assert.ok(incr.ok, "the increment is acknowledged");
    await c.advance(30);
    const del = await c.settle(
      c.mutate("lon-store1", {
        key,
        mutation: { kind: "del" },
        opId: "d1",
        consistency: "local-one",
        token: withToken ? incr.value.token : undefined,
      }),
    );
    assert.ok(del.ok, "the delete is acknowledged");
    c.network.heal();
    await c.advance(10_000);
    const values: ReadResult[] = [];
    for (const id of ["nyc-store1", "lon-store1", "sin-store1"]) {
      const r = await c.settle(c.read(id, { key, consistency: "local-one" }));
      assert.ok(r.ok, `read at ${id}`);
      values.push(r.value.value);
    }
    return values;
  } finally {
    await c.stopAll();
  }
}

test("sim checks - a delete issued after an increment was acknowledged elsewhere, without its token, is stamped before it and leaves it counting", async () => {
  for (const v of await incrementThenDelete(false)) assert.deepEqual(v, { exists: true, type: "counter", value: 1 });
});

test("sim checks - a delete carrying the token of the acknowledged increment clears it on every replica, whatever the clocks", async () => {
  for (const v of await incrementThenDelete(true)) assert.equal(v.exists, false);
});

const attempt = (opId: string, mutation: Attempt["mutation"], acked: boolean): Attempt => ({
  opId,
  key: "d2",
  mutation,
  acked,
  settled: true,
  node: "nyc-store1",
  level: "local-quorum",
  issuedMs: 0,
  settledMs: 1,
  expiresByMs: Number.POSITIVE_INFINITY,
});

test("sim checks - after an acknowledged delete only op ids never acknowledged may survive, at most their sum", () => {
  const ops = [
    attempt("op1", { kind: "incr", by: 1 }, true),
    attempt("op2", { kind: "incr", by: 1 }, false),
    attempt("op2", { kind: "incr", by: 1 }, true), // a retry answered: op2 is acknowledged
    attempt("op3", { kind: "incr", by: 1 }, false),
    attempt("op4", { kind: "del" }, true),
  ];
  const problemsOf = (v: ReadResult | undefined) => {
    const problems: string[] = [];
    checkDeleted("d2", ops, v, problems);
    return problems;
  };
  assert.deepEqual(problemsOf({ exists: false }), []);
  assert.deepEqual(problemsOf(undefined), []);
  assert.deepEqual(problemsOf({ exists: true, type: "counter", value: 1 }), [], "op3 was never acknowledged");
  assert.match(
    problemsOf({ exists: true, type: "counter", value: 2 })[0],
    /deleted \(acknowledged\) but reads 2.*: op3\)$/,
  );
  const allAcked = ops.filter((o) => o.opId !== "op3");
  const problems: string[] = [];
  checkDeleted("d2", allAcked, { exists: true, type: "counter", value: 1 }, problems);
  assert.match(
    problems[0],
    /deleted \(acknowledged\) but reads 1 \(only op ids never acknowledged may survive it: none\)/,
  );
});
