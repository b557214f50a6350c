// Rolling deploys with real processes, under a load of GETs through the site's gateway: a
// deploy of version 2 replaces every app instance with zero client-visible errors; a deploy
// whose new version fails readiness halts by itself, rolls back, and leaves the old version
// serving (the same processes, never stopped), still with zero errors.
// Addresses: 127.184.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { request } from "undici";
import type { SiteStatus } from "../src/cattle/index.ts";
import { type Launched, nodeBin } from "../src/core/index.ts";
import { cleanup, cliMain, startSupervisor, type TestPlanet, waitStatus, writePlanet } from "./support/supervised.ts";

const crashApp = fileURLToPath(new URL("./support/crash-app.ts", import.meta.url));
const site = "d";
const tp: TestPlanet = writePlanet(
  "redshirt-deploy-",
  `name: deploytest
zone: deploy.test.
sites:
  - { name: d, city: D, lat: 0, lon: 0, subnet: 127.184.0.0/16, tiers: { store: 1, app: 3, gateway: 1, dns: 0 } }
store: { partitions: 4, rf: 1, dataDir: data }
`,
);
const gateway = tp.planet.gateways[0];
let sup: Launched | undefined;
const apps = (s: SiteStatus) => s.instances.filter((r) => r.tier === "app");
const allReady = (s: SiteStatus) => s.ready && s.instances.every((r) => r.state === "ready");

before(async () => {
  sup = await startSupervisor(tp, site);
  await waitStatus(tp, site, allReady, 60_000, "ready");
});

after(async () => {
  await cleanup(tp, [site], [sup]);
});

/** GETs through the gateway, one after another, until stopped: how many, and which failed. */
function load() {
  let running = true;
  let sent = 0;
  const failures: string[] = [];
  const done = (async () => {
    while (running) {
      sent++;
      try {
        const res = await request(`http://${gateway.host}:${gateway.port}/`, { headersTimeout: 5_000 });
        if (res.statusCode !== 200) failures.push(`${res.statusCode} ${await res.body.text()}`);
        else await res.body.dump();
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { sent, failures };
    },
  };
}

/** Runs `redshirt deploy … --wait` without blocking this process (the load must keep running). */
function deploy(args: string[]): Promise<{ status: number | null; stdout: string }> {
  const child = spawn(nodeBin, [cliMain, "deploy", ...args, "--site", site, "--wait", "--planet", tp.planetFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stdout += d;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
  return new Promise((resolve) =>
    child.once("exit", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    }),
  );
}

test("deploy - a rolling deploy under load replaces every app instance with zero errors", async () => {
  const before = apps(await waitStatus(tp, site, allReady, 30_000, "ready"));
  assert.deepEqual(
    before.map((r) => r.version),
    ["1", "1", "1"],
  );
  const l = load();
  const t0 = performance.now();
  const out = await deploy(["2", "--max-surge", "1", "--max-unavailable", "0"]);
  const ms = performance.now() - t0;
  const { sent, failures } = await l.stop();
  assert.equal(out.status, 0, out.stdout);
  const s = await waitStatus(tp, site, allReady, 30_000, "ready after the deploy");
  assert.equal(s.rollout?.state, "done");
  assert.equal(s.app.version, "2");
  assert.deepEqual(
    apps(s).map((r) => r.version),
    ["2", "2", "2"],
  );
  for (const r of apps(s)) assert.ok(!before.some((b) => b.pid === r.pid), `${r.id} is a new process`);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed during the deploy`);
  console.log(`measured: deploy of 3 instances in ${(ms / 1000).toFixed(1)} s; ${sent} requests, 0 failed`);
});

test("deploy - a version that fails readiness halts, rolls back, and the old version serves on", async () => {
  const before = apps(await waitStatus(tp, site, allReady, 30_000, "ready"));
  const l = load();
  const out = await deploy(["3", "--app", crashApp]);
  const { sent, failures } = await l.stop();
  assert.equal(out.status, 1, `a rolled-back deploy exits 1: ${out.stdout}`);
  assert.match(out.stdout, /rolled-back/);
  const s = await waitStatus(tp, site, allReady, 30_000, "ready after the rollback");
  assert.equal(s.rollout?.state, "rolled-back");
  assert.match(s.rollout?.reason ?? "", /app#\d+ failed 2 times: exited with 3/);
  assert.equal(s.app.version, "2");
  assert.deepEqual(
    apps(s).map((r) => r.pid),
    before.map((r) => r.pid),
    "the old instances were never stopped",
  );
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed during the failed deploy`);
  console.log(`measured: failed deploy halted and rolled back; ${sent} requests, 0 failed`);
});
