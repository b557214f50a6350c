// The rendered units' restart and stop settings, read back from the files: a crash loop is
// slowed by the back-off but can never trip systemd's start limit (which would leave the
// unit failed for good, what systemd's defaults do after five quick crashes), and a stop
// gives each process longer than its own drain. And bad input to `redshirt render` is an
// error that names the field, not a stack trace.
// No process of the planet is started and no address bound here.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { test } from "node:test";
import { run as render } from "../src/cli/render-command.ts";
import { parseUnit, timeSpanMs, type UnitFile } from "../src/render/index.ts";
import { sdkConstants } from "../src/sdk/index.ts";
import { storeConstants } from "../src/store/index.ts";
import { gatewayStopMsMax } from "../src/traffic/index.ts";

const repo = resolve(import.meta.dirname, "..");

/**
 * systemd's delays between restarts: RestartSec, growing exponentially over RestartSteps
 * to RestartMaxDelaySec (systemd ≥ 254); without those keys every delay is RestartSec.
 */
function restartDelaysMs(unit: UnitFile, count: number, knowsSteps: boolean): number[] {
  const s = unit.get("Service");
  const first = timeSpanMs(s?.get("RestartSec")?.[0] ?? "100ms");
  const steps = Number(s?.get("RestartSteps")?.[0] ?? 0);
  const max = timeSpanMs(s?.get("RestartMaxDelaySec")?.[0] ?? "0");
  return Array.from({ length: count }, (_, k) => {
    if (!knowsSteps || steps === 0 || max <= first) return first;
    const i = Math.min(k, steps);
    return first * (max / first) ** (i / steps);
  });
}

/**
 * Whether a unit that dies the moment it starts is given up: systemd refuses a start once
 * StartLimitBurst starts fell within StartLimitIntervalSec (0 turns the limit off).
 */
function tripsStartLimit(unit: UnitFile, knowsSteps: boolean): boolean {
  const u = unit.get("Unit");
  const intervalMs = timeSpanMs(u?.get("StartLimitIntervalSec")?.[0] ?? "10s");
  const burst = Number(u?.get("StartLimitBurst")?.[0] ?? 5);
  if (intervalMs === 0) return false;
  // The starts at t=0, d1, d1+d2, …: the limit trips if `burst + 1` of them fit in one interval.
  const delays = restartDelaysMs(unit, burst, knowsSteps);
  const spanMs = delays.reduce((a, b) => a + b, 0);
  return spanMs <= intervalMs;
}

test("render units - systemd's defaults trip the start limit; the rendered back-off cannot, with or without RestartSteps", async () => {
  const systemdDefault = parseUnit("[Unit]\n[Service]\nRestart=always\n");
  assert.equal(tripsStartLimit(systemdDefault, true), true, "100 ms, 5 in 10 s: given up after half a second");
  const dir = mkdtempSync(join(tmpdir(), "rs-render-units-"));
  try {
    for (const planet of ["examples/planet.yaml", "examples/planet-hosts.yaml"]) {
      const w = process.stdout.write;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      try {
        await render(["systemd", "--planet", join(repo, planet), "--site", "lon", "--out", dir]);
      } finally {
        process.stdout.write = w;
      }
      const services = readdirSync(dir).filter((f) => f.endsWith(".service"));
      assert.ok(services.length >= 5);
      for (const f of services) {
        const unit = parseUnit(readFileSync(join(dir, f), "utf8"));
        const s = unit.get("Service");
        assert.equal(s?.get("Restart")?.[0], "always", f);
        assert.equal(unit.get("Unit")?.get("StartLimitIntervalSec")?.[0], "0", `${f}: start limit off`);
        assert.equal(tripsStartLimit(unit, true), false, f);
        assert.equal(tripsStartLimit(unit, false), false, `${f} on systemd < 254`);
        // The back-off grows from the supervisor's 200 ms to its 30 s.
        const delays = restartDelaysMs(unit, 12, true);
        assert.equal(delays[0], 200);
        assert.ok(Math.abs(delays[11] - 30_000) < 1, `${f}: capped at 30 s, got ${delays[11]}`);
        assert.ok(
          delays.every((d, i) => i === 0 || d >= delays[i - 1]),
          `${f}: never shrinks`,
        );
        // One SIGTERM, no ExecStop (a second SIGTERM would cut a gateway's drain short), SIGKILL only after the drain.
        assert.equal(s?.get("KillSignal")?.[0], "SIGTERM", f);
        assert.equal(s?.get("ExecStop"), undefined, f);
        const stopMs = timeSpanMs(s?.get("TimeoutStopSec")?.[0] ?? "90s");
        const tier = s
          ?.get("Environment")
          ?.find((e) => e.startsWith("REDSHIRT_TIER="))
          ?.split("=")[1];
        const ownStopMs = {
          gateway: gatewayStopMsMax,
          store: storeConstants.storeStopMsMax,
          app: sdkConstants.drainNoticeMsDefault + sdkConstants.drainTimeoutMsDefault,
        }[tier ?? ""];
        if (ownStopMs !== undefined)
          assert.ok(stopMs > ownStopMs, `${f}: TimeoutStopSec ${stopMs} ms ≤ its drain ${ownStopMs} ms`);
        // Hardening.
        for (const key of ["NoNewPrivileges", "PrivateTmp"]) assert.equal(s?.get(key)?.[0], "yes", `${f} ${key}`);
        assert.equal(s?.get("ProtectSystem")?.[0], "strict", f);
        if (tier === "store") assert.match(s?.get("StateDirectory")?.[0] ?? "", /^redshirt\/lon-store\d$/);
      }
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(join(repo, "bin/redshirt"), args, { timeout: 20_000 }, (err, stdout, stderr) =>
      done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("render units - bad input is a CLI error naming the field, never a stack trace", async () => {
  const cases: [readonly string[], RegExp][] = [
    [["render", "systemd", "--site", "nope"], /RS_ERR_RENDER_UNKNOWN_SITE: .*--site "nope".*nyc, lon, sin/],
    [["render", "kubernetes", "--planet", "examples/planet-hosts.yaml"], /RS_ERR_CLI_USAGE: .*--site NAME is required/],
    [["render", "helm", "--site", "nyc"], /RS_ERR_CLI_USAGE: .*engine must be one of kubernetes, systemd.*"helm"/],
    [
      ["render", "systemd", "--site", "nyc", "--install-dir", "opt/redshirt"],
      /RS_ERR_RENDER_BAD_OPTION: .*--install-dir "opt\/redshirt": must be an absolute path/,
    ],
    [["render", "kubernetes", "--site", "nyc"], /RS_ERR_RENDER_EMULATED_WAN: .*wan\.mode/],
    [
      ["render", "kubernetes", "--site", "nyc", "--planet", "examples/planet-hosts.yaml", "--namespace", "Bad_NS"],
      /RS_ERR_RENDER_BAD_OPTION: .*--namespace "Bad_NS"/,
    ],
    [["render", "systemd", "--site", "nyc", "--frob"], /RS_ERR_CLI_USAGE: .*--frob/],
  ];
  for (const [args, expected] of cases) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, expected, args.join(" "));
    assert.doesNotMatch(r.stderr, /\n\s+at /, `${args.join(" ")}: no stack trace`);
    assert.equal(r.stdout, "", `${args.join(" ")}: nothing rendered`);
  }
});
