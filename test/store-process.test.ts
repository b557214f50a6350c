// `redshirt store` as a real process: it prints its ready line, serves the HTTP API on the
// planet's store port, keeps what it acknowledged across a SIGTERM and a SIGKILL, and stops
// cleanly on SIGTERM. Addresses: 127.145.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../src/core/index.ts";
import { createStoreClient } from "../src/store/index.ts";
import { loadPlanet } from "../src/topology/index.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "rs-store-process-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  "name: proc\nzone: proc.test.\nsites:\n  - { name: p, city: P, lat: 0, lon: 0, subnet: 127.145.0.0/16, tiers: { store: 1, app: 0 } }\nstore: { partitions: 4, rf: 1, dataDir: data }\nports: { store: 7400 }\n",
);
const planet = loadPlanet(planetFile);
// What `redshirt up` does first; every store node reads it.
loadPlanetSecret(join(dir, "data"), { create: true });
let node: Launched | undefined;

function start(): Promise<Launched> {
  return launch({
    name: "store p-store1",
    command: nodeBin,
    args: [cliMain, "store", "--planet", planetFile, "--node", "p-store1"],
    env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
  });
}

after(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("store process - ready line, serves the API, keeps acknowledged writes across SIGTERM and SIGKILL", async () => {
  node = await start();
  assert.deepEqual(node.ready, {
    event: "ready",
    node: "p-store1",
    site: "p",
    http: "http://127.145.1.1:7400",
    peer: "127.145.1.1:7401",
    data: join(dir, "data", "p-store1.sqlite"),
  });
  assert.ok(existsSync(join(dir, "data", "p-store1.sqlite")));
  const client = createStoreClient({ planet, site: "p", timeoutMs: 5000 });
  try {
    assert.equal(await client.incr("visits", 2), 2);
    await client.set("doc", { a: 1 });
    await node.stop();
    assert.equal((await node.exited).code, 0, `a SIGTERM stop is clean:\n${node.tail()}`);
    node = await start();
    assert.equal((await client.get("visits")).value, 2);
    assert.equal(await client.incr("visits", 1), 3);
    node.kill("SIGKILL");
    await node.exited;
    node = await start();
    assert.deepEqual((await client.get("doc")).value, { a: 1 });
    assert.equal((await client.get("visits")).value, 3, "nothing acknowledged is lost to SIGKILL");
  } finally {
    await client.close();
  }
});

test("store process - a bad command line names the problem and exits 2", async () => {
  await assert.rejects(
    launch({
      name: "store bad",
      command: nodeBin,
      args: [cliMain, "store", "--planet", planetFile],
      readyTimeoutMs: 10_000,
    }),
    /exited with 2[\s\S]*RS_ERR_CLI_USAGE: .*--node ID is missing/,
  );
  await assert.rejects(
    launch({
      name: "store unknown",
      command: nodeBin,
      args: [cliMain, "store", "--planet", planetFile, "--node", "p-store9"],
      readyTimeoutMs: 10_000,
    }),
    /exited with 2[\s\S]*RS_ERR_TOPOLOGY_UNKNOWN_NODE: .*p-store9/,
  );
});

test("store process - a node refuses to start without the planet secret, and --data-dir still reads it from the planet's data dir", async () => {
  const bare = mkdtempSync(join(tmpdir(), "rs-store-nosecret-"));
  try {
    const file = join(bare, "planet.yaml");
    writeFileSync(file, readFileSync(planetFile, "utf8"));
    const startIn = (extra: string[]) =>
      launch({
        name: "store p-store1 (bare)",
        command: nodeBin,
        args: [cliMain, "store", "--planet", file, "--node", "p-store1", ...extra],
        env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
        readyTimeoutMs: 10_000,
      });
    await assert.rejects(startIn([]), /RS_ERR_CORE_NO_SECRET: .*planet\.secret/);
    assert.ok(!existsSync(join(bare, "data", "p-store1.sqlite")), "nothing was opened");
    // The secret in the planet's data dir serves a node whose SQLite file lives elsewhere.
    loadPlanetSecret(join(bare, "data"), { create: true });
    await node?.stop();
    node = undefined;
    const moved = await startIn(["--data-dir", join(bare, "elsewhere")]);
    try {
      assert.equal((moved.ready as { data: string }).data, join(bare, "elsewhere", "p-store1.sqlite"));
    } finally {
      await moved.stop();
    }
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
});
