// The deterministic simulation of a 3-site planet (see sim-cluster.ts, sim-workload.ts).
// SIM_SEED=<n> replays one seed; SIM_SEEDS and SIM_OPS make the run longer.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runSimulation } from "./sim-workload.ts";

const seeds = process.env.SIM_SEED
  ? [Number(process.env.SIM_SEED)]
  : Array.from({ length: Number(process.env.SIM_SEEDS ?? 3) }, (_, i) => 1000 + i);
const ops = Number(process.env.SIM_OPS ?? 1000);

for (const seed of seeds) {
  test(`simulation - seed ${seed}: under loss, crashes and partitions every replica converges and no acknowledged write is lost`, async () => {
    const report = await runSimulation({ seed, ops, lossRate: 0.02 });
    const summary = `seed ${seed}: ${report.acked} acked, ${report.failed} failed, ${report.crashes} crashes, ${report.partitions} partitions, converged ${report.convergedAfterMs} ms after healing`;
    assert.deepEqual(report.problems, [], `${summary}\nreplay with SIM_SEED=${seed}`);
    assert.ok(report.acked > ops / 4, `too few acknowledged writes to prove anything: ${summary}`);
    assert.ok(report.crashes > 0 && report.partitions > 0, `the nemesis did nothing: ${summary}`);
  });
}

test("simulation - the same seed replays the same history", async () => {
  const a = await runSimulation({ seed: 77, ops: 300, lossRate: 0.02 });
  const b = await runSimulation({ seed: 77, ops: 300, lossRate: 0.02 });
  assert.deepEqual({ ...a, problems: a.problems.length }, { ...b, problems: b.problems.length });
});
