// `redshirt load [--planet F] [--duration 60s] [--users N] [--seed N] [--out history.jsonl]
// [--regions a,b] [--json]`: virtual users in every client region of the planet shop
// against it through the GSLB DNS and the emulated WAN (src/load), every operation written
// to a history file that `redshirt check FILE` judges. Progress once a second on stderr
// (ops/s, errors, per region); a summary at the end (text, or --json on stdout). Ctrl-C
// stops new operations, lets those in flight finish, and ends the history as interrupted.
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type LoadProgress, type LoadSummary, loadConstants, loadHistoryHeader, runLoad } from "../load/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { HistoryWriter } from "../verify/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

const usage =
  "usage: redshirt load [--planet FILE] [--duration 60s] [--users N] [--seed N] [--out history.jsonl] [--regions a,b] [--json]";

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `load: ${text}\n${usage}`);
}

/** "60s", "1.5m", "500ms", "2h", or a bare number of seconds. */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const unitMs = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * unitMs);
}

export type LoadCommand = {
  readonly planetFile: string;
  readonly durationMs: number;
  readonly usersPerRegion: number;
  readonly seed: number;
  readonly out: string;
  readonly regions: readonly string[] | undefined;
  readonly json: boolean;
};

export function parseLoadArgs(args: string[]): LoadCommand {
  const { values, positionals } = parseCommandArgs("load", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    duration: { type: "string", default: "60s" },
    users: { type: "string", default: String(loadConstants.usersPerRegionDefault) },
    seed: { type: "string" },
    out: { type: "string", default: "history.jsonl" },
    regions: { type: "string" },
    json: { type: "boolean", default: false },
  });
  if (positionals.length > 0) throw usageError(`takes no positional arguments (got ${positionals.join(" ")})`);
  const durationMs = parseDurationMs(values.duration);
  if (durationMs === undefined || durationMs > loadConstants.durationMsMax) {
    throw usageError(`--duration must be like 60s, 500ms, 2m (at most 24h; got ${JSON.stringify(values.duration)})`);
  }
  const users = /^\d{1,6}$/.test(values.users) ? Number(values.users) : Number.NaN;
  if (!(users >= 1 && users <= loadConstants.usersMax)) {
    throw usageError(
      `--users must be an integer in 1..${loadConstants.usersMax} (got ${JSON.stringify(values.users)})`,
    );
  }
  const seedText = values.seed ?? String(Math.floor(Math.random() * 1_000_000));
  if (!/^\d{1,9}$/.test(seedText))
    throw usageError(`--seed must be an integer in 0..999999999 (got ${JSON.stringify(seedText)})`);
  const regions = values.regions
    ?.split(",")
    .map((r) => r.trim())
    .filter((r) => r.length > 0);
  return {
    planetFile: values.planet,
    durationMs,
    usersPerRegion: users,
    seed: Number(seedText),
    out: values.out,
    regions,
    json: values.json,
  };
}

/** The commit of the code that runs (the evidence names it), or "unknown" outside a git checkout. */
export function gitCommit(): string {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      cwd: fileURLToPath(new URL(".", import.meta.url)),
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return "unknown";
  }
}

export function formatProgress(p: LoadProgress): string {
  const regions = Object.entries(p.byRegion)
    .map(([name, s]) => `${name} ${s.ops}${s.errors ? `/${s.errors}err` : ""}`)
    .join(" · ");
  return `load: ${(p.elapsedMs / 1000).toFixed(0)}s ${p.ops} ops ${p.opsPerS.toFixed(0)} ops/s ${p.errors} errors | ${regions}\n`;
}

export function formatSummary(s: LoadSummary, out: string): string {
  const lines = [
    `load: ${s.ops} ops by ${s.users} users in ${(s.elapsedMs / 1000).toFixed(1)} s (${s.opsPerS.toFixed(0)} ops/s), ${s.errors} user-visible errors, ${s.nextAddress} next-address retries, ${s.dnsQueries} DNS queries`,
    "region       ops  errors  retried  mean ms  served by",
  ];
  for (const [name, r] of Object.entries(s.byRegion)) {
    const served = Object.entries(r.servedBySite)
      .map(([site, n]) => `${site} ${n}`)
      .join(", ");
    const mean = r.ops ? (r.latencyMsSum / r.ops).toFixed(1) : "-";
    lines.push(
      `${name.padEnd(12)} ${String(r.ops).padStart(4)}  ${String(r.errors).padStart(6)}  ${String(r.retried).padStart(7)}  ${mean.padStart(7)}  ${served}`,
    );
  }
  lines.push(`history: ${out} (judge it: redshirt check ${out})`);
  return `${lines.join("\n")}\n`;
}

export async function run(args: string[]): Promise<number> {
  const cmd = parseLoadArgs(args);
  const planet = loadPlanet(resolve(cmd.planetFile));
  const header = loadHistoryHeader(planet, {
    seed: cmd.seed,
    commit: gitCommit(),
    durationMsPlanned: cmd.durationMs,
    ...(cmd.regions ? { regions: cmd.regions } : {}),
  });
  const history = await HistoryWriter.create(cmd.out, header);
  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write("load: stopping (operations in flight finish)…\n");
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const summary = await runLoad({
      planet,
      seed: cmd.seed,
      durationMs: cmd.durationMs,
      usersPerRegion: cmd.usersPerRegion,
      history,
      signal: abort.signal,
      ...(cmd.regions ? { regions: cmd.regions } : {}),
      onProgress: (p) => process.stderr.write(formatProgress(p)),
    });
    await history.close(abort.signal.aborted ? "interrupted" : "complete", performance.now());
    process.stdout.write(
      cmd.json
        ? `${JSON.stringify({ ...summary, out: cmd.out, seed: cmd.seed }, null, 1)}\n`
        : formatSummary(summary, cmd.out),
    );
    return 0;
  } catch (err) {
    // The run failed: end the history as such; a failure to close is reported beside the first error.
    await history
      .close("error", performance.now())
      .catch((closeErr) => process.stderr.write(`load: closing ${cmd.out}: ${(closeErr as Error).message}\n`));
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
