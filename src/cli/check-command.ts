// `redshirt check HISTORY.jsonl [--json]`: judges a run from its history file alone (the
// checker of src/verify) and prints the verdict as text or JSON. Exit code 0 = pass,
// 1 = fail, 3 = not proven, 2 = bad command line or bad history; so a script can never
// mistake "we could not tell" for "nothing was lost".
import { type CheckOptions, checkHistory, fileSource, formatReportText, verifyConstants } from "../verify/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

const usage =
  "usage: redshirt check HISTORY.jsonl [--json] [--ops-min N] [--faults-min N] [--recovery-ms-max MS] [--settle-ms MS] [--stale-reads-ok]";

export const checkExitCodes = { pass: 0, fail: 1, "not proven": 3 } as const;

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `check: ${text}\n${usage}`);
}

function integerOption(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= 0 && n <= max)) throw usageError(`${name} must be an integer in 0..${max} (got ${JSON.stringify(text)})`);
  return n;
}

export type CheckCommand = { readonly file: string; readonly json: boolean; readonly options: CheckOptions };

/** Parses and checks the command line; every error names the argument that is wrong. */
export function parseCheckArgs(args: string[]): CheckCommand {
  const { values, positionals } = parseCommandArgs("check", args, {
    json: { type: "boolean", default: false },
    "stale-reads-ok": { type: "boolean", default: false },
    "ops-min": { type: "string" },
    "faults-min": { type: "string" },
    "recovery-ms-max": { type: "string" },
    "settle-ms": { type: "string" },
  });
  if (positionals.length !== 1) {
    throw usageError(
      positionals.length === 0 ? "HISTORY.jsonl is missing" : `takes one file (got ${positionals.length})`,
    );
  }
  const opsMin = integerOption("--ops-min", values["ops-min"], 1_000_000_000);
  const faultsMin = integerOption("--faults-min", values["faults-min"], verifyConstants.faultsMax);
  const recoveryMsMax = integerOption("--recovery-ms-max", values["recovery-ms-max"], 3_600_000);
  const faultSettleMs = integerOption("--settle-ms", values["settle-ms"], 3_600_000);
  return {
    file: positionals[0],
    json: values.json,
    options: {
      ...(opsMin === undefined ? {} : { opsMin }),
      ...(faultsMin === undefined ? {} : { faultsMin }),
      ...(recoveryMsMax === undefined ? {} : { recoveryMsMax }),
      ...(faultSettleMs === undefined ? {} : { faultSettleMs }),
      ...(values["stale-reads-ok"] ? { staleReadsFail: false } : {}),
    },
  };
}

export async function run(args: string[]): Promise<number> {
  const cmd = parseCheckArgs(args);
  // Progress on stderr (stdout stays clean for --json), at most once a second: a small file
  // finishes before the first line, a big one says how far each of the two passes got.
  let pass = 1;
  let lastMs = performance.now();
  let lastRead = 0;
  const onBytes = (bytesRead: number, bytesTotal: number) => {
    // The checker reads the file twice; the byte count starting over is the second pass.
    if (bytesRead < lastRead) pass = 2;
    lastRead = bytesRead;
    const now = performance.now();
    if (now - lastMs < verifyConstants.progressIntervalMs) return;
    lastMs = now;
    const pct = bytesTotal === 0 ? 100 : Math.floor((bytesRead / bytesTotal) * 100);
    process.stderr.write(
      `check: pass ${pass}/2 ${pct} % (${(bytesRead / 1_048_576).toFixed(1)} of ${(bytesTotal / 1_048_576).toFixed(1)} MiB)\n`,
    );
  };
  const report = await checkHistory(fileSource(cmd.file, onBytes), cmd.options);
  process.stdout.write(cmd.json ? `${JSON.stringify(report, null, 2)}\n` : formatReportText(report));
  return checkExitCodes[report.verdict];
}
