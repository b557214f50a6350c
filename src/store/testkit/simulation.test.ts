// The deterministic simulation of a 3-site planet (see sim-cluster.ts, sim-workload.ts).
// SIM_SEED=<n> replays one seed; SIM_SEEDS and SIM_OPS make the run longer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runSimulation } from "./sim-workload.ts";

const seeds = process.env.SIM_SEED
  ? [Number(process.env.SIM_SEED)]
  : Array.from({ length: Number(process.env.SIM_SEEDS ?? 3) }, (_, i) => 1000 + i);
const ops = Number(process.env.SIM_OPS ?? 1000);

// Every other seed ends with a coordinator dead for good whose last writes only anti-entropy
// can carry to the other sites (see `repairOnly`).
const repairOnly = (seed: number) => seed % 2 === 1;

for (const seed of seeds) {
  const mode = repairOnly(seed) ? "repair alone converges the survivors" : "every replica converges";
  test(`simulation - seed ${seed}: under loss, crashes and partitions ${mode} and no acknowledged write is lost`, async (t) => {
    const report = await runSimulation({ seed, ops, lossRate: 0.02, repairOnly: repairOnly(seed) });
    const summary = `seed ${seed}: ${report.acked} acked, ${report.failed} failed, ${report.crashes} crashes, ${report.partitions} partitions, ${report.leftDead ? `${report.leftDead} left dead, ` : ""}converged ${report.convergedAfterMs} ms after healing`;
    t.diagnostic(summary);
    assert.deepEqual(report.problems, [], `${summary}\nreplay with SIM_SEED=${seed}`);
    assert.equal(report.internalErrors, 0, `internal errors counted: ${summary}\nreplay with SIM_SEED=${seed}`);
    assert.ok(report.acked > ops / 4, `too few acknowledged writes to prove anything: ${summary}`);
    assert.ok(report.crashes > 0 && report.partitions > 0, `the nemesis did nothing: ${summary}`);
  });
}

test("simulation - the same seed replays the same history", async () => {
  const a = await runSimulation({ seed: 77, ops: 300, lossRate: 0.02 });
  const b = await runSimulation({ seed: 77, ops: 300, lossRate: 0.02 });
  assert.deepEqual({ ...a, problems: a.problems.length }, { ...b, problems: b.problems.length });
});
