// `redshirt load` end to end against the real shop: a planet of one site serving
// examples/shop (real supervisor, store, gateway, GSLB DNS and WAN link processes), users
// in two client regions resolving the service through the DNS with their region's client
// subnet and shopping over their region's emulated access link for ~10 s, every op in a
// history that `redshirt check` judges: no anomaly, hundreds of ops, every region served;
// then `redshirt proof` on the same running planet leaves evidence that re-checks.
// Addresses: 127.109.0.0/16, 127.112.0.0/16 and 127.113.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { planetDataDir, stopPlanet } from "../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet, type Planet } from "../src/topology/index.ts";
import type { CheckReport } from "../src/verify/index.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const shop = fileURLToPath(new URL("../examples/shop/server.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "redshirt-load-"));
const planetFile = join(dir, "planet.yaml");
const historyFile = join(dir, "history.jsonl");
writeFileSync(
  planetFile,
  `name: loadtest
zone: load.test.
services: [www]
sites:
  - { name: lon, city: London, lat: 51.51, lon: -0.13, subnet: 127.112.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
clients:
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68, subnet: 127.109.0.0/16 }
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0, subnet: 127.113.0.0/16 }
store: { partitions: 8, rf: 1, dataDir: data }
dns: { ttlS: 2 }
`,
);
const planet: Planet = loadPlanet(planetFile);
let up: Launched | undefined;

before(async () => {
  up = await launch({
    name: "redshirt up",
    command: nodeBin,
    args: [cliMain, "up", "--planet", planetFile, "--app", shop],
    // One site (this machine has two cores and five engineers): the shop's default
    // "global" writes need a quorum in a second site, so this planet writes local-quorum.
    env: { ...process.env, SHOP_WRITE_CONSISTENCY: "local-quorum" },
    isReady: (line) => line.includes("is up"),
    readyTimeoutMs: 60_000,
  });
});

after(async () => {
  await up?.stop();
  await stopPlanet({ planet, secret: loadPlanetSecret(planetDataDir(planet)) }).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a redshirt command to its end (killed past timeoutMs), with its exit code and output. */
function cli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nodeBin, [cliMain, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1_048_576 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test("load - users in every region shop through the GSLB DNS and their access links; check finds no anomaly", async () => {
  const load = await cli(
    [
      "load",
      "--planet",
      planetFile,
      "--duration",
      "10s",
      "--users",
      "4",
      "--seed",
      "7",
      "--out",
      historyFile,
      "--json",
    ],
    60_000,
  );
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stderr, /load: \d+s \d+ ops \d+ ops\/s/, "progress once a second");
  const summary = JSON.parse(load.stdout) as {
    ops: number;
    errors: number;
    byRegion: Record<string, { ops: number; servedBySite: Record<string, number> }>;
  };
  for (const region of ["europe", "us-east"]) {
    assert.ok(
      (summary.byRegion[region]?.servedBySite.lon ?? 0) > 20,
      `${region} served: ${JSON.stringify(summary.byRegion)}`,
    );
  }
  const check = await cli(["check", historyFile, "--json", "--faults-min", "0", "--ops-min", "200"], 60_000);
  const report = JSON.parse(check.stdout) as CheckReport;
  assert.deepEqual(report.anomalies, [], check.stdout.slice(0, 4_000));
  assert.equal(report.verdict, "pass", report.reasons.join("; "));
  assert.ok(report.history.ops >= 200, `${report.history.ops} ops`);
  assert.equal(report.history.ops, summary.ops);
  assert.equal(report.stats.errorOps + report.stats.unknownOps, 0);
  assert.ok(report.stats.cartReadsChecked >= 10 && report.stats.orderReadsChecked >= 5, JSON.stringify(report.stats));
  assert.equal(check.code, 0);
  // Each region's users crossed its own access link: europe's ~10 ms, us-east's ~90 ms round trip to London.
  const p50 = (r: string) => report.latency.byRegion[r].p50Ms;
  assert.ok(p50("us-east") > p50("europe") + 40, `p50 europe ${p50("europe")} us-east ${p50("us-east")}`);
  assert.ok(readFileSync(historyFile, "utf8").includes('"type":"end"'));
});

test("proof - on the running planet: users, the check, an evidence folder that re-checks to the same verdict; no faults is not proven", async () => {
  const evidence = join(dir, "evidence");
  const proof = await cli(
    [
      "proof",
      "--planet",
      planetFile,
      "--duration",
      "3s",
      "--users",
      "2",
      "--seed",
      "11",
      "--out",
      evidence,
      "--json",
      "--no-chaos",
    ],
    60_000,
  );
  assert.match(proof.stderr, /proof: using the running planet loadtest/, "the planet was up: used, not started again");
  const report = JSON.parse(proof.stdout) as CheckReport;
  assert.equal(proof.code, 3, proof.stderr);
  assert.equal(report.verdict, "not proven");
  assert.deepEqual(report.anomalies, []);
  assert.ok(
    report.reasons.some((r) => /0 faults/.test(r)),
    report.reasons.join("; "),
  );
  assert.ok(report.history.ops > 20);
  const again = await cli(["proof", "--recheck", evidence, "--json"], 60_000);
  assert.equal(again.code, 3);
  assert.deepEqual(JSON.parse(again.stdout), report, "the evidence folder re-checks to the same report");
  const run = JSON.parse(readFileSync(join(evidence, "run.json"), "utf8")) as { seed: number; startedPlanet: boolean };
  assert.deepEqual({ seed: run.seed, startedPlanet: run.startedPlanet }, { seed: 11, startedPlanet: false });
  assert.ok(readFileSync(join(evidence, "planet.yaml"), "utf8").includes("name: loadtest"));
});
