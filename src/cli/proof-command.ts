// `redshirt proof [--planet F] [--duration 60s] [--seed N] [--users N] [--out DIR] [--json]`
// and `redshirt proof --recheck DIR`: users from every region shop while chaos breaks
// things, then the checker judges the history; the verdict and its evidence folder are
// printed. Exit code as `check`: 0 pass, 1 fail, 3 not proven (e.g. no faults: chaos is not
// wired in yet, see proof.ts ChaosSchedule), 2 bad command line.
import { formatReportText, verifyConstants } from "../verify/index.ts";
import { parseCommandArgs } from "./args.ts";
import { checkExitCodes } from "./check-command.ts";
import { cliErrors } from "./errors.ts";
import { formatProgress, gitCommit, parseDurationMs } from "./load-command.ts";
import { recheckProof, runProof } from "./proof.ts";

const usage =
  "usage: redshirt proof [--planet FILE] [--duration 60s] [--seed N] [--users N] [--out DIR] [--json] | proof --recheck DIR [--json]";

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `proof: ${text}\n${usage}`);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("proof", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    duration: { type: "string", default: "60s" },
    seed: { type: "string" },
    users: { type: "string", default: "4" },
    out: { type: "string" },
    recheck: { type: "string" },
    json: { type: "boolean", default: false },
  });
  if (positionals.length > 0) throw usageError(`takes no positional arguments (got ${positionals.join(" ")})`);
  const print = (report: Parameters<typeof formatReportText>[0]) =>
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 1)}\n` : formatReportText(report));
  if (values.recheck !== undefined) {
    const report = await recheckProof(values.recheck);
    print(report);
    return checkExitCodes[report.verdict];
  }
  const durationMs = parseDurationMs(values.duration);
  if (durationMs === undefined || durationMs < 1_000)
    throw usageError(`--duration must be like 60s, at least 1s (got ${JSON.stringify(values.duration)})`);
  const users = /^\d{1,4}$/.test(values.users) ? Number(values.users) : Number.NaN;
  if (!(users >= 1 && users <= 1_000))
    throw usageError(`--users must be an integer in 1..1000 (got ${JSON.stringify(values.users)})`);
  const seedText = values.seed ?? String(Math.floor(Math.random() * 1_000_000));
  if (!/^\d{1,9}$/.test(seedText)) throw usageError(`--seed must be an integer (got ${JSON.stringify(seedText)})`);
  const seed = Number(seedText);
  const dir = values.out ?? `proof-${new Date().toISOString().replace(/[:.]/g, "-")}-seed${seed}`;
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  try {
    const result = await runProof({
      planetFile: values.planet,
      durationMs,
      seed,
      usersPerRegion: users,
      dir,
      commit: gitCommit(),
      // The chaos hook: src/chaos's schedule (monkey on every tier, a site loss, a
      // partition, a dead coordinator, an empty disk, a skewed clock) plugs in here.
      chaos: undefined,
      check: { opsMin: verifyConstants.opsMinDefault },
      onLine: (line) => process.stderr.write(`${line}\n`),
      onProgress: (p) => process.stderr.write(formatProgress(p)),
      signal: abort.signal,
    });
    print(result.report);
    process.stderr.write(`proof: evidence in ${result.dir} (re-check: redshirt proof --recheck ${result.dir})\n`);
    return checkExitCodes[result.report.verdict];
  } finally {
    process.off("SIGINT", onSignal);
  }
}
