// `redshirt proof [--planet F] [--duration 60s] [--seed N] [--users N] [--out DIR] [--json]`
// and `redshirt proof --recheck DIR`: users from every region shop while chaos breaks
// things, then the checker judges the history; the verdict and its evidence folder are
// printed, and its HTML report written into the folder (report.html; `--report FILE.html`
// writes it there too; `--recheck DIR` writes DIR/report.html again). Chaos is the proof's schedule (proof-schedule.ts: the scenario of issue 14 and the
// monkey); `--no-chaos` runs the users alone. Exit code as `check`: 0 pass, 1 fail, 3 not
// proven (e.g. no faults, with --no-chaos), 2 bad command line.
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { formatReportText, verifyConstants } from "../verify/index.ts";
import { parseCommandArgs } from "./args.ts";
import { checkExitCodes } from "./check-command.ts";
import { cliErrors } from "./errors.ts";
import { formatProgress, gitCommit, parseDurationMs } from "./load-command.ts";
import { recheckProof, runProof } from "./proof.ts";
import { proofSchedule } from "./proof-schedule.ts";

const usage =
  "usage: redshirt proof [--planet FILE] [--duration 60s] [--seed N] [--users N] [--out DIR] [--report FILE.html] [--json] [--no-chaos] [--monkey-rate PER-MIN] [--ops-min N] | proof --recheck DIR [--report FILE.html] [--json]";

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `proof: ${text}\n${usage}`);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("proof", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    duration: { type: "string", default: "60s" },
    seed: { type: "string" },
    users: { type: "string", default: "6" },
    out: { type: "string" },
    recheck: { type: "string" },
    report: { type: "string" },
    json: { type: "boolean", default: false },
    "no-chaos": { type: "boolean", default: false },
    "monkey-rate": { type: "string", default: "12" },
    "ops-min": { type: "string", default: String(verifyConstants.opsMinDefault) },
  });
  if (positionals.length > 0) throw usageError(`takes no positional arguments (got ${positionals.join(" ")})`);
  const reportFile = values.report;
  if (reportFile !== undefined) {
    if (!/\.html?$/i.test(reportFile))
      throw usageError(`--report must name an .html file (got ${JSON.stringify(reportFile)})`);
    // Refused now rather than after the whole run.
    if (!existsSync(dirname(resolve(reportFile))))
      throw usageError(`--report: the folder ${JSON.stringify(dirname(resolve(reportFile)))} does not exist`);
  }
  // --json prints the check's report with the HTML report's files beside it.
  const print = (report: Parameters<typeof formatReportText>[0], reportHtml: readonly string[]) =>
    process.stdout.write(
      values.json ? `${JSON.stringify({ ...report, reportHtml }, null, 1)}\n` : formatReportText(report),
    );
  const sayReport = (files: readonly string[]) =>
    process.stderr.write(`proof: report in ${files.join(" and ")} (open it in a browser; it needs no network)\n`);
  if (values.recheck !== undefined) {
    const { report, reportFiles } = await recheckProof(values.recheck, {}, reportFile);
    print(report, reportFiles);
    sayReport(reportFiles);
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
  const monkeyRate = /^\d{1,3}$/.test(values["monkey-rate"]) ? Number(values["monkey-rate"]) : Number.NaN;
  if (!(monkeyRate >= 0 && monkeyRate <= 600))
    throw usageError(
      `--monkey-rate must be faults per minute in 0..600 (got ${JSON.stringify(values["monkey-rate"])})`,
    );
  const opsMin = /^\d{1,9}$/.test(values["ops-min"]) ? Number(values["ops-min"]) : Number.NaN;
  if (!Number.isInteger(opsMin))
    throw usageError(`--ops-min must be a whole number (got ${JSON.stringify(values["ops-min"])})`);
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
      // The monkey on every tier beside a site loss, a partition, a dead coordinator, an
      // empty disk and a skewed clock.
      chaos: values["no-chaos"]
        ? undefined
        : proofSchedule({ monkeyRatePerMin: monkeyRate, onLine: (line) => process.stderr.write(`${line}\n`) }),
      // Fewer ops than this proves nothing: "not proven" (a short test run lowers it).
      check: { opsMin },
      ...(reportFile === undefined ? {} : { reportFile }),
      onLine: (line) => process.stderr.write(`${line}\n`),
      onProgress: (p) => process.stderr.write(formatProgress(p)),
      signal: abort.signal,
    });
    print(result.report, result.reportFiles);
    // With --json on stdout, the figures a reader looks for first still reach the terminal.
    if (values.json) {
      const r = result.report;
      const kinds = Object.entries(r.history.faultsByKind)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ");
      process.stderr.write(
        `proof: verdict ${r.verdict}: ${r.history.ops} ops, ${r.history.faults} faults (${kinds})\n`,
      );
      for (const reason of r.reasons) process.stderr.write(`proof:   ${reason}\n`);
      for (const loss of r.siteLosses)
        process.stderr.write(
          `proof: site loss ${loss.faultId} (${loss.site}): ${loss.affectedUsers} users, waited max ${Math.round(loss.maxWaitMs)} ms (p50 ${Math.round(loss.p50WaitMs)}, p99 ${Math.round(loss.p99WaitMs)}), never served again ${loss.neverServedUsers}\n`,
        );
    }
    process.stderr.write(`proof: evidence in ${result.dir} (re-check: redshirt proof --recheck ${result.dir})\n`);
    sayReport(result.reportFiles);
    return checkExitCodes[result.report.verdict];
  } finally {
    process.off("SIGINT", onSignal);
  }
}
