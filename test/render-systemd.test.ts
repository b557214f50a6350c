// The rendered systemd units run: `redshirt render systemd` for each site of a two-site
// planet (a host per site), then every unit's ExecStart= started with exactly its Environment= (and what
// systemd itself would add: STATE_DIRECTORY for StateDirectory=, PATH), as systemd would
// — no systemd as PID 1 here, so this test is the service manager. The site serves: an
// HTTP request through its gateway reaches an app instance that found the gateway by its
// lease alone, the store answers, both sites' DNS list both gateways, and `redshirt status` shows
// the site without any supervisor. A unit's SIGTERM (its KillSignal) drains an app under
// requests through the gateway: it exits 0 within its TimeoutStopSec and no request fails. Every process is killed at the end, also on failure.
// Addresses: 127.218.0.0/16 – 127.219.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type Launched, launch, loadPlanetSecret } from "../src/core/index.ts";
import { parseUnit, timeSpanMs, unitCommand } from "../src/render/index.ts";
import { dig } from "./support/dig.ts";

const repo = resolve(import.meta.dirname, "..");
const nodeBin = join(repo, "node_modules/.bin/node");
const planetYaml = `name: rendered
zone: rendered.test.
# The nearest site's gateway and the other's after it: each DNS server lists both once it
# has judged both sites healthy.
services: [{ name: www, fallbackSites: 1 }]
sites:
  - { name: alpha, city: Oslo, lat: 59.91, lon: 10.75, subnet: 127.218.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 2 } }
  - { name: beta, city: Lisbon, lat: 38.72, lon: -9.14, subnet: 127.219.0.0/16, tiers: { store: 1, gateway: 1, dns: 1, app: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
dns: { ttlS: 1 }
wan: { mode: direct }
`;

async function httpGet(url: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** Polls fn until it returns a value, at most deadlineMs. */
async function eventually<T>(what: string, deadlineMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const endMs = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < endMs) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`${what} did not happen within ${deadlineMs} ms${last ? `: ${String(last)}` : ""}`);
}

function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(nodeBin, [join(repo, "src/cli/main.ts"), ...args], { timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("render systemd - each site started from its rendered units' ExecStart= and Environment= serves", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rs-render-run-"));
  const etc = join(dir, "etc");
  const state = join(dir, "state");
  const started: Launched[] = [];
  try {
    writeFileSync(join(dir, "planet.yaml"), planetYaml);
    loadPlanetSecret(join(dir, "data"), { create: true });
    // What the operator does by hand on each host: the planet secret next to the rendered planet file.
    const unitsOf = new Map<string, string>();
    for (const site of ["alpha", "beta"]) {
      const etcSite = join(etc, site);
      unitsOf.set(site, etcSite);
      const r = await runCli([
        "render",
        "systemd",
        "--planet",
        join(dir, "planet.yaml"),
        "--site",
        site,
        "--out",
        etcSite,
        "--install-dir",
        repo,
        "--config-dir",
        etcSite,
        "--node",
        nodeBin,
        "--app",
        join(repo, "examples/hello/server.ts"),
      ]);
      assert.equal(r.code, 0, r.stderr);
      copyFileSync(join(dir, "data/planet.secret"), join(etcSite, "planet.secret"));
    }
    const unit = (site: string, name: string) => parseUnit(readFileSync(join(unitsOf.get(site) ?? "", name), "utf8"));
    const wantedBy = (site: string) =>
      (unit(site, `redshirt-site-${site}.target`).get("Unit")?.get("Wants") ?? []).flatMap((w) => w.split(" "));
    assert.deepEqual(wantedBy("alpha").sort(), [
      "redshirt-alpha-dns1.service",
      "redshirt-alpha-gateway1.service",
      "redshirt-alpha-store1.service",
      "redshirt-app-alpha@1.service",
      "redshirt-app-alpha@2.service",
    ]);
    const ready = new Map<string, Record<string, unknown>>();
    // Both hosts boot at once; on each, the units in the order their After= gives: store, apps, gateway, DNS.
    const rank = (u: string) => ["-store", "app-", "-gateway", "-dns"].findIndex((k) => u.includes(k));
    const boot = ["alpha", "beta"]
      .flatMap((site) => wantedBy(site).map((name) => ({ site, name })))
      .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
    for (const { site, name } of boot) {
      const m = /^(.*)@(\d+)\.service$/.exec(name);
      const u = unit(site, m ? `${m[1]}@.service` : name);
      const service = u.get("Service");
      const stateDir = service?.get("StateDirectory")?.[0];
      const systemdEnv: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
      if (stateDir) {
        // systemd creates /var/lib/<StateDirectory> and passes it as STATE_DIRECTORY.
        systemdEnv.STATE_DIRECTORY = join(state, stateDir);
        mkdirSync(systemdEnv.STATE_DIRECTORY, { recursive: true, mode: 0o700 });
      }
      const cmd = unitCommand(u, m?.[2] ?? "", systemdEnv);
      assert.ok(cmd.argv[0].startsWith("/"), `${name}: ExecStart= names an absolute binary`);
      if (name.includes("-gateway")) {
        // node, its flags (the gateway's small young generation, for its p99), then the CLI.
        assert.equal(cmd.argv[1], "--max-semi-space-size=1", `${name}: ${cmd.argv.join(" ")}`);
      }
      const p = await launch({
        name,
        command: cmd.argv[0],
        args: cmd.argv.slice(1),
        env: cmd.env,
        cwd: service?.get("WorkingDirectory")?.[0],
        readyTimeoutMs: 30_000,
      });
      started.push(p);
      ready.set(name, p.ready as Record<string, unknown>);
    }
    const appIds = new Set([1, 2].map((k) => String(ready.get(`redshirt-app-alpha@${k}.service`)?.instance)));
    assert.equal(appIds.size, 2, "each app instance has its own id");

    // The store answers at its planet address.
    assert.equal((await httpGet("http://127.218.1.1:7400/healthz")).status, 200);
    // Through the gateway to an app instance (found by its lease), which counts a visit in the store.
    const served = new Set<string>();
    await eventually("both app instances served through the gateway", 20_000, async () => {
      const a = await httpGet("http://127.218.2.1:8080/");
      if (a.status !== 200) throw new Error(`gateway answered ${a.status}: ${a.body.slice(0, 300)}`);
      const body = JSON.parse(a.body) as { instance: string; site: string; visits: number };
      assert.equal(body.site, "alpha");
      assert.ok(appIds.has(body.instance), `served by ${body.instance}, one of the rendered units' instances`);
      assert.ok(body.visits >= 1);
      served.add(body.instance);
      return served.size === 2 ? true : undefined;
    });
    // Each site's DNS answers with both sites' gateways.
    for (const dns of ["127.218.3.1", "127.219.3.1"]) {
      await eventually(`the DNS at ${dns} lists both gateways`, 40_000, async () => {
        const d = await dig(dns, 5353, ["www.rendered.test.", "A"]);
        const listed = d.answers.map((x) => x.data).sort();
        return listed.join(" ") === "127.218.2.1 127.219.2.1" ? true : undefined;
      });
    }
    // `redshirt status` without a supervisor: the site's instances from their leases.
    const status = await runCli(["status", "--planet", join(etc, "alpha/planet.yaml")]);
    assert.equal(status.code, 0, `status: ${status.stdout}${status.stderr}`);
    assert.match(status.stdout, /alpha +ready .*no supervisor/);
    assert.match(status.stdout, /beta +ready .*no supervisor/);
    for (const id of appIds) assert.match(status.stdout, new RegExp(`${id} .*ready`));
    assert.match(status.stdout, /alpha-store1 .*ready/);
    process.stdout.write(`# redshirt status:\n${status.stdout.replace(/^/gm, "#   ")}\n`);

    // systemd's stop: one KillSignal (SIGTERM), SIGKILL only after TimeoutStopSec. The app drains and exits 0 in time.
    const app1 = started.find((p) => p.name === "redshirt-app-alpha@1.service");
    assert.ok(app1);
    const appUnit = unit("alpha", "redshirt-app-alpha@.service").get("Service");
    assert.equal(appUnit?.get("KillSignal")?.[0], "SIGTERM");
    const stopMs = timeSpanMs(appUnit?.get("TimeoutStopSec")?.[0] ?? "");
    // Requests keep coming through the gateway while it drains: none of them fails.
    let stopped = false;
    const statuses: number[] = [];
    const traffic = (async () => {
      while (!stopped) {
        statuses.push((await httpGet("http://127.218.2.1:8080/", 5_000)).status);
        await sleep(20);
      }
    })();
    const t0 = Date.now();
    app1.kill("SIGTERM");
    const exit = await Promise.race([app1.exited, sleep(stopMs).then(() => "timeout" as const)]);
    const drainedMs = Date.now() - t0;
    stopped = true;
    await traffic;
    assert.notEqual(exit, "timeout", `the app did not stop within TimeoutStopSec=${stopMs} ms`);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.ok(statuses.length >= 10, `requests during the drain: ${statuses.length}`);
    assert.deepEqual(
      statuses.filter((x) => x !== 200),
      [],
      `requests during the drain that failed (of ${statuses.length})`,
    );
    // No failure a store node hid in a counter.
    for (const node of ["127.218.1.1", "127.219.1.1"]) {
      const text = (await httpGet(`http://${node}:7400/metrics`)).body;
      for (const name of ["redshirt_store_internal_errors_total", "redshirt_store_commit_failures_total"]) {
        const total = text
          .split("\n")
          .filter((l) => l.startsWith(name))
          .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
        assert.equal(total, 0, `${node} ${name}`);
      }
    }
    const other = String(ready.get("redshirt-app-alpha@2.service")?.instance);
    for (let i = 0; i < 5; i++) {
      const a = await httpGet("http://127.218.2.1:8080/");
      assert.equal(a.status, 200);
      assert.equal(JSON.parse(a.body).instance, other);
    }
    process.stdout.write(
      `# app drained and exited in ${drainedMs} ms (TimeoutStopSec ${stopMs} ms), ${statuses.length} requests meanwhile, all 200\n`,
    );
  } catch (err) {
    for (const p of started) process.stderr.write(`--- ${p.name}\n${p.tail()}\n`);
    throw err;
  } finally {
    await Promise.all(started.map((p) => p.stop(3_000)));
    for (const p of started) p.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
