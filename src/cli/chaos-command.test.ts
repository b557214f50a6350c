// `redshirt chaos`: a bad command line or fault names the bad field before anything is sent
// (in this process, and once through the real command: exit 2), on a planet that is not running, and
// durations read as an operator writes them. Injection on a running planet: test/chaos.test.ts.
// Addresses: 127.106.0.0/16 – 127.107.0.0/16 belong to this file (nothing listens on them).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { planetDataDir } from "../cattle/index.ts";
import { isRedshirtError, loadPlanetSecret } from "../core/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { parseDurationMs, run as runChaos } from "./chaos-command.ts";

const run = promisify(execFile);
const bin = new URL("../../bin/redshirt", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "rs-chaos-cli-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  `name: chaoscli
zone: chaoscli.test.
sites:
  - { name: p, city: P, lat: 0, lon: 0, subnet: 127.106.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: q, city: Q, lat: 1, lon: 1, subnet: 127.107.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: emulated }
`,
);
loadPlanetSecret(planetDataDir(loadPlanet(planetFile)), { create: true });

after(() => rmSync(dir, { recursive: true, force: true }));

async function chaos(args: string[]): Promise<{ code: number; out: string }> {
  try {
    // A Node start takes seconds on a loaded 2-core machine: a generous bound.
    const r = await run(bin, ["chaos", ...args, "--planet", planetFile], { timeout: 90_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

test("chaos cli - a bad fault names the bad field before anything is sent", async () => {
  const cases: [string[], RegExp][] = [
    [["explode"], /unknown action "explode"/],
    [["kill-site", "--site", "zz"], /site: "zz" \(sites: p, q\)/],
    [["kill-tier", "--site", "p", "--tier", "web"], /tier: one of wan, store, app, gateway, dns/],
    [["pause", "--site", "p"], /slot, instance: pause needs exactly one/],
    [["partition", "p", "p"], /peer: "p"/],
    [["partition", "p"], /takes A B/],
    [["skew", "--node", "p-store1"], /offset: a non-zero whole number/],
    [["skew", "--node", "p-store9", "--offset-ms", "5"], /node: "p-store9" \(store nodes: p-store1, q-store1\)/],
    [["empty-disk", "--node", "p-store1", "--ttl", "soon"], /--ttl: "soon" is not a duration/],
    [["slow", "p", "q"], /delay, bandwidth: slow-link needs/],
    [["monkey", "--rate", "0"], /rate: faults per minute/],
    [["monkey", "--kinds", "kill-site,meteor"], /--kinds: "meteor"/],
    [["heal"], /give one fault ID or --all/],
  ];
  // In this process: each is refused before any request (no planet runs here).
  for (const [args, want] of cases) {
    await assert.rejects(
      runChaos([...args, "--planet", planetFile]),
      (e: Error) => isRedshirtError(e) && want.test(e.message),
      args.join(" "),
    );
  }
  // And the real command: exit 2 with the code and the field.
  const r = await chaos(["kill-site", "--site", "zz"]);
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /RS_ERR_CHAOS_BAD_SPEC: .*site: "zz"/);
});

test("chaos cli - a fault whose holder does not answer is reported as such, naming it", async () => {
  const r = await chaos(["kill-site", "--site", "p", "--ttl", "1s"]);
  assert.equal(r.code, 2, r.out);
  assert.match(r.out, /RS_ERR_CHAOS_UNREACHABLE: .*supervisor of p/);
});

test("chaos cli - durations read as written", () => {
  assert.equal(parseDurationMs("500ms", "--ttl"), 500);
  assert.equal(parseDurationMs("30s", "--ttl"), 30_000);
  assert.equal(parseDurationMs("1.5m", "--ttl"), 90_000);
  assert.equal(parseDurationMs("250", "--ttl"), 250);
  assert.throws(
    () => parseDurationMs("-1s", "--ttl"),
    (e) => isRedshirtError(e, "RS_ERR_CLI_USAGE"),
  );
});
