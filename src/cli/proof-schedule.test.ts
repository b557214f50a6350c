import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { loadPlanet } from "../topology/index.ts";
import { faultTier, proofScenario, siteLossGraceMs, unserving, unservingGraceMs } from "./proof-schedule.ts";

const planet = loadPlanet(fileURLToPath(new URL("../../examples/planet.yaml", import.meta.url)));

test("proof scenario - has a site loss, a partition, a dead store node, an empty disk, a skew and a fault at every tier", () => {
  for (const seed of [1, 2, 3, 14, 99]) {
    const plan = proofScenario(planet, seed, 60_000);
    const kinds = new Set(plan.map((p) => p.spec.kind));
    for (const k of ["kill-site", "partition", "empty-disk", "clock-skew", "kill-instance", "kill-tier"])
      assert.ok(kinds.has(k as never), `seed ${seed}: ${k}`);
    const tiers = new Set(plan.map((p) => faultTier(planet, p.spec)));
    for (const t of ["app", "gateway", "dns", "store", "wan", "site"])
      assert.ok(tiers.has(t), `seed ${seed}: tier ${t}`);
    const dead = plan.find((p) => p.why.includes("left dead"));
    assert.ok(dead && dead.atMs + dead.spec.ttlMs === 60_000, "the dead node stays dead to the end of the run");
    for (const p of plan.filter((x) => x !== dead)) assert.ok(p.atMs + p.spec.ttlMs <= 48_000, `${p.why} ends by 80 %`);
  }
});

test("proof scenario - never two sites unserving at once (grace after each included), store limits per site kept", () => {
  for (const seed of [1, 2, 3, 14, 99]) {
    const plan = proofScenario(planet, seed, 60_000);
    const windows = plan
      .filter((p) => unserving(planet, p.spec))
      .map((p) => ({
        site: p.spec.site,
        from: p.atMs,
        to: p.atMs + p.spec.ttlMs + (p.spec.kind === "kill-site" ? siteLossGraceMs : unservingGraceMs),
      }));
    for (const a of windows)
      for (const b of windows)
        if (a !== b && a.site !== b.site)
          assert.ok(a.to <= b.from || b.to <= a.from, `seed ${seed}: ${JSON.stringify([a, b])} overlap`);
    assert.deepEqual(
      plan.map((p) => p.atMs),
      plan.map((p) => p.atMs).sort((x, y) => x - y),
      "in time order",
    );
    const cut = plan.find((p) => p.spec.kind === "partition");
    const loss = plan.find((p) => p.spec.kind === "kill-site");
    assert.ok(cut && loss && cut.atMs + cut.spec.ttlMs < loss.atMs, "the partition heals before the site loss");
    // Store nodes down at once in one site (the skew does not take its node down).
    const downs = plan.filter((p) => p.spec.kind === "empty-disk" || p.spec.slot?.includes("store"));
    for (const a of downs)
      for (const b of downs)
        if (a !== b && a.spec.site === b.spec.site)
          assert.ok(a.atMs + a.spec.ttlMs <= b.atMs || b.atMs + b.spec.ttlMs <= a.atMs, `seed ${seed}: store nodes`);
  }
});

test("proof - a planet the proof brings up gets its own data dir; the rest of the file is kept", async () => {
  const { withDataDir } = await import("./proof.ts");
  const { parsePlanet } = await import("../topology/index.ts");
  const text =
    "# the demo\nname: p\nzone: p.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0 }\nstore:\n  dataDir: ../.redshirt/data # shared\n  rf: 1\n";
  const out = withDataDir(text, "/tmp/evidence/data");
  assert.match(out, /^# the demo/);
  const planet = parsePlanet(out);
  assert.equal(planet.store.dataDir, "/tmp/evidence/data");
  assert.equal(planet.store.rf, 1);
  assert.equal(
    parsePlanet(withDataDir("name: p\nzone: p.test.\nsites:\n  - { name: a, city: A, lat: 0, lon: 0 }\n", "/d")).store
      .dataDir,
    "/d",
  );
});
