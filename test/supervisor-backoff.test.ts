// Crash-loop back-off with real processes: an app that exits at once is started again after
// 200 ms, then 400, 800, 1600 — each wait at least the delay the supervisor reports — and
// the status shows the back-off, the failure count and the app's last output while it
// waits. The rest of the site is unaffected. Addresses: 127.181.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type InstanceRow, supervisorConstants } from "../src/cattle/index.ts";
import type { Launched } from "../src/core/index.ts";
import { cleanup, startSupervisor, status, type TestPlanet, writePlanet } from "./support/supervised.ts";

const crashApp = fileURLToPath(new URL("./support/crash-app.ts", import.meta.url));
const site = "c";
const tp: TestPlanet = writePlanet(
  "redshirt-backoff-",
  `name: backofftest
zone: backoff.test.
sites:
  - { name: c, city: C, lat: 0, lon: 0, subnet: 127.181.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 0 } }
store: { partitions: 4, rf: 1, dataDir: data }
`,
);
let sup: Launched | undefined;

after(async () => {
  await cleanup(tp, [site], [sup]);
});

test("supervisor - crash-loop back-off grows for an app that exits at once", async () => {
  sup = await startSupervisor(tp, site, ["--app", crashApp]);
  // Each failure: the count, the delay it set, and when the app exited (the supervisor's wall clock).
  const seen = new Map<number, { backoffMs: number; exitAtMs: number }>();
  let backoffSeen: InstanceRow | undefined;
  const wantFailures = 5;
  const deadline = Date.now() + 90_000;
  while (seen.size < wantFailures) {
    assert.ok(Date.now() < deadline, `only ${seen.size} failures seen: ${JSON.stringify([...seen])}`);
    const s = await status(tp, site).catch(() => undefined);
    const app = s?.instances.find((r) => r.tier === "app");
    if (app?.lastExit && app.failures > 0 && !seen.has(app.failures)) {
      seen.set(app.failures, { backoffMs: app.backoffMs, exitAtMs: app.lastExit.atMs });
    }
    if (app?.state === "backoff" && app.nextStartInMs !== null && app.failures >= 3) backoffSeen ??= app;
    await new Promise((r) => setTimeout(r, 20));
  }
  const s = await status(tp, site);
  const lines: string[] = [];
  for (let k = 1; k <= wantFailures; k++) {
    const f = seen.get(k);
    assert.ok(f, `failure ${k} seen (polls may not skip one: each run takes a node start)`);
    const want = Math.min(supervisorConstants.backoffMaxMs, supervisorConstants.backoffBaseMs * 2 ** (k - 1));
    assert.equal(f.backoffMs, want, `failure ${k} sets a back-off of ${want} ms`);
    const next = seen.get(k + 1);
    if (next) {
      const gapMs = next.exitAtMs - f.exitAtMs;
      lines.push(`failure ${k}: back-off ${f.backoffMs} ms, next exit ${gapMs} ms later`);
      assert.ok(gapMs >= f.backoffMs, `the run after failure ${k} started no sooner than its back-off`);
    }
  }
  console.log(`measured:\n  ${lines.join("\n  ")}`);
  assert.ok(backoffSeen, "status showed the slot backing off");
  assert.ok(backoffSeen.nextStartInMs! > 0 && backoffSeen.nextStartInMs! <= backoffSeen.backoffMs);
  assert.equal(backoffSeen.lastExit?.how, "exited with 3");
  assert.equal(backoffSeen.lastExit?.wasReady, false);
  assert.match(backoffSeen.lastExit?.output ?? "", /crash-app c-app-[0-9a-f]{6} starting, and failing/);
  const app = s.instances.find((r) => r.tier === "app")!;
  assert.ok(app.restarts >= wantFailures - 1);
  // The crash loop is the app's alone: the store and the gateway stay up and ready.
  for (const tier of ["store", "gateway"]) {
    const r = s.instances.find((x) => x.tier === tier)!;
    assert.equal(r.state, "ready", tier);
    assert.equal(r.restarts, 0, tier);
  }
  assert.equal(s.ready, false, "a site without its app is not ready");
});
