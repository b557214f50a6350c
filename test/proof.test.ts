// `redshirt proof` with its chaos schedule, end to end: the command brings up a planet of
// three sites serving examples/shop, runs users from a region near each site for 20 s while
// the scenario kills a whole site and brings it back, partitions two sites, kills a store
// node and leaves it dead, rebuilds a node from an empty disk, skews a clock and kills one
// instance at each of the app, DNS, gateway and WAN tiers (and the monkey adds its own),
// then checks the history: the verdict must be pass — nothing acknowledged lost, no order
// duplicated, no user-visible error — with at least one fault of each kind the issue names,
// and the site loss's users served again within the checker's bound.
// Addresses: 127.131.0.0/16 – 127.136.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { planetDataDir, stopPlanet } from "../src/cattle/index.ts";
import { loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import type { CheckReport } from "../src/verify/index.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "redshirt-proof-"));
const planetFile = join(dir, "planet.yaml");
const evidence = join(dir, "evidence");
writeFileSync(
  planetFile,
  `name: prooftest
zone: proof.test.
services: [{ name: www, fallbackSites: 1 }]
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, subnet: 127.131.0.0/16, tiers: { store: 3, app: 1, gateway: 1, dns: 1 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, subnet: 127.132.0.0/16, tiers: { store: 3, app: 1, gateway: 1, dns: 1 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.82, subnet: 127.133.0.0/16, tiers: { store: 3, app: 1, gateway: 1, dns: 1 } }
clients:
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0, subnet: 127.134.0.0/16 }
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68, subnet: 127.135.0.0/16 }
  - { name: asia-east, cidr: 10.5.0.0/16, lat: 35.68, lon: 139.69, subnet: 127.136.0.0/16 }
store: { partitions: 16, rf: 3, consistency: local-quorum, dataDir: data }
dns: { ttlS: 2 }
wan: { mode: emulated, bandwidthMbps: 200 }
# The shop dedups Idempotency-Keys through the store: a gateway may send a keyed request again, to any site.
gateway: { services: { www: { idempotencyKeyRetries: true, appDedupsThroughStore: true } } }
`,
);

after(async () => {
  // proof takes the planet it brought up down itself; this is for a run killed on timeout.
  // That planet runs on its own disks in the evidence folder (its planet.yaml says where).
  const used = join(evidence, "planet.yaml");
  const planet = loadPlanet(existsSync(used) ? used : planetFile);
  const dataDir = planetDataDir(planet);
  if (existsSync(join(dataDir, "planet.secret"))) {
    await stopPlanet({ planet, secret: loadPlanetSecret(dataDir) }).catch(() => {});
  }
  // REDSHIRT_KEEP_PROOF=1 keeps the evidence folder (and says where) to look into a failure.
  if (process.env.REDSHIRT_KEEP_PROOF === "1") process.stderr.write(`proof test: evidence kept in ${evidence}\n`);
  else rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nodeBin, [cliMain, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1_048_576 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

test("proof - 20 s of users under a site loss, a partition, a dead store node, an empty disk, a skewed clock and the monkey: pass", async () => {
  const proof = await cli(
    [
      "proof",
      ...["--planet", planetFile, "--duration", "20s", "--users", "3", "--seed", "14"],
      ...["--monkey-rate", "6", "--ops-min", "200", "--out", evidence, "--json"],
    ],
    400_000,
  );
  const stderrTail = proof.stderr.slice(-6_000);
  assert.match(proof.stderr, /proof: bringing planet prooftest up/, stderrTail);
  assert.match(proof.stderr, /load: \d+s \d+ ops/, "progress while it runs");
  const report = JSON.parse(proof.stdout) as CheckReport;
  const kinds = report.history.faultsByKind;
  for (const kind of ["kill-site", "partition", "empty-disk", "clock-skew", "kill-instance", "kill-tier"]) {
    assert.ok((kinds[kind] ?? 0) >= 1, `${kind}: ${JSON.stringify(kinds)}`);
  }
  for (const tier of ["app", "gateway", "dns", "store", "wan"]) {
    assert.match(
      proof.stderr,
      new RegExp(`chaos injected \\d+ faults \\(.*\\b${tier} \\d+`),
      `a fault at the ${tier} tier`,
    );
  }
  assert.deepEqual(report.anomalies.slice(0, 20), [], `anomalies:\n${stderrTail}`);
  assert.equal(report.verdict, "pass", `${report.reasons.join("; ")}\n${stderrTail}`);
  assert.equal(proof.code, 0);
  assert.equal(report.siteLosses.length, 1, JSON.stringify(report.siteLosses));
  assert.match(proof.stderr, /proof: site loss \S+ \(\w+\): \d+ users, waited max \d+ ms/);
  const reportHtml = (JSON.parse(proof.stdout) as { reportHtml: string[] }).reportHtml;
  assert.deepEqual(reportHtml, [join(evidence, "report.html")], "--json names the HTML report");
  assert.match(proof.stderr, /proof: report in \S+report\.html/);
  assert.match(readFileSync(reportHtml[0], "utf8"), /<span id="verdict">PASS<\/span>/);
  const history = readFileSync(join(evidence, "history.jsonl"), "utf8");
  const faultIds = [...history.matchAll(/"type":"fault","id":"([^"]+)"/g)].map((m) => m[1]);
  const endIds = new Set([...history.matchAll(/"type":"fault-end","id":"([^"]+)"/g)].map((m) => m[1]));
  assert.ok(
    faultIds.every((id) => endIds.has(id as string)),
    "every fault's end is in the history",
  );
});
