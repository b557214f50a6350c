// `redshirt up` when startup fails half way: one app instance's address is already taken,
// so that instance cannot start and its supervisor's crash loop shows it; up must say so
// (naming the instance and why), exit non-zero, and leave no process of the planet running
// (supervisors and instances are detached, so they are found by their process tree while
// up runs). Addresses: 127.163.0.0/16 – 127.164.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { nodeBin } from "../src/core/index.ts";
import { descendantPids, isAlive } from "./support/processes.ts";

const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

test("up - a start that fails half way stops what it started, says why and exits non-zero", async () => {
  const dir = mkdtempSync(join(tmpdir(), "redshirt-upfail-"));
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(
    planetFile,
    `name: upfail
zone: upfail.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.163.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 10, lon: 10, subnet: 127.164.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
`,
  );
  // Site b's app instance would listen here: take the address first.
  const squatter = createServer();
  await new Promise<void>((resolve) => squatter.listen(9000, "127.164.4.1", resolve));
  const seen = new Set<number>();
  try {
    const up = spawn(nodeBin, [cliMain, "up", "--planet", planetFile], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    up.stdout.on("data", (d) => {
      output += d;
    });
    up.stderr.on("data", (d) => {
      output += d;
    });
    // Record every process up starts while it runs, to check afterwards that none is left.
    const watch = setInterval(() => {
      for (const pid of descendantPids(up.pid ?? 0)) seen.add(pid);
    }, 50);
    // Bounded: an up that never exits fails the test instead of hanging it.
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      new Promise<number | null>((resolve) => up.once("exit", resolve)),
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), 60_000);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(watch);
    if (code === "timeout") up.kill("SIGKILL");
    assert.equal(code, 1, output);
    assert.match(output, /startup failed, every process stopped/);
    assert.match(output, /app b-app-[0-9a-f]{6} \(slot b\/app#1\) failed 3 times in a row: exited with 1/);
    assert.match(output, /EADDRINUSE/, "the instance's own output says why");
    assert.ok(seen.size > 0, "up started processes before the failure");
    const left = [...seen].filter(isAlive);
    assert.deepEqual(left, [], "processes left behind");
  } finally {
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, "SIGKILL");
    squatter.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
