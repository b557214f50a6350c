// The proof, as a library: bring the planet up (or use the one running), run users from
// every region (src/load) while chaos injects faults (a hook: src/chaos plugs in here),
// write both into one history, check it (src/verify), and leave one evidence folder —
// seed, commit, planet, the full history, the verdict, the HTML report — from which anyone
// can re-check the verdict and write the report again (`redshirt proof --recheck DIR`).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import { planetDataDir, planetStatus } from "../cattle/index.ts";
import { type Clock, type Launched, launch, loadPlanetSecret, nodeBin, systemClock } from "../core/index.ts";
import { type LoadProgress, type LoadSummary, loadHistoryHeader, runLoad } from "../load/index.ts";
import { loadPlanet, type Planet } from "../topology/index.ts";
import {
  type CheckOptions,
  type CheckReport,
  checkHistory,
  type FaultEndRecord,
  type FaultRecord,
  fileSource,
  HistoryWriter,
  writeHtmlReport,
} from "../verify/index.ts";

/** What a chaos schedule gets: the planet, where to record its faults, the run's clock and time. */
export type ChaosContext = {
  readonly planet: Planet;
  readonly planetFile: string;
  readonly secret: Buffer;
  readonly seed: number;
  readonly durationMs: number;
  /** The history's clock (monoMs): every fault's startMs/endMs on it. */
  readonly clock: Clock;
  /** Writes a fault (or fault-end) record into the run's history, beside the users' ops. */
  record(fault: FaultRecord | FaultEndRecord): Promise<void>;
  /** Aborted when the run stops early; the schedule must revert what it injected. */
  readonly signal: AbortSignal;
};

/**
 * A chaos schedule: runs for the run's duration, injecting faults and recording each one.
 * The hook for src/chaos (`redshirt chaos monkey`): without one, the run has no faults and
 * its verdict is "not proven" (a run without faults proves nothing about faults).
 */
export type ChaosSchedule = { readonly name: string; run(ctx: ChaosContext): Promise<void> };

export type ProofOptions = {
  readonly planetFile: string;
  readonly durationMs: number;
  readonly seed: number;
  readonly usersPerRegion: number;
  /** The evidence folder (created). */
  readonly dir: string;
  readonly commit: string;
  readonly chaos?: ChaosSchedule;
  readonly check?: CheckOptions;
  /** Another file the HTML report is written to, beside the evidence folder's report.html. */
  readonly reportFile?: string;
  readonly onLine?: (line: string) => void;
  readonly onProgress?: (progress: LoadProgress) => void;
  readonly signal?: AbortSignal;
};

export type ProofResult = {
  readonly dir: string;
  readonly report: CheckReport;
  readonly load: LoadSummary;
  /** The HTML report's files: the evidence folder's report.html, then the one asked for. */
  readonly reportFiles: readonly string[];
  /** Whether this run brought the planet up (and took it down again). */
  readonly startedPlanet: boolean;
};

const cliMain = fileURLToPath(new URL("./main.ts", import.meta.url));
const planetUpMsMax = 180_000;

/** Whether every site's supervisor answers: a planet is running for this file. */
async function planetRunning(planet: Planet): Promise<Buffer | undefined> {
  let secret: Buffer;
  try {
    secret = loadPlanetSecret(planetDataDir(planet));
  } catch {
    return undefined; // never brought up: no secret yet
  }
  const answers = await planetStatus({ planet, secret, timeoutMs: 1_000 });
  return answers.every((a) => a.reachable) ? secret : undefined;
}

/** The planet file's text with its store data dir set to `dataDir` (comments and order kept). */
export function withDataDir(text: string, dataDir: string): string {
  const doc = parseDocument(text);
  doc.setIn(["store", "dataDir"], dataDir);
  return doc.toString();
}

export async function runProof(o: ProofOptions): Promise<ProofResult> {
  const say = o.onLine ?? (() => {});
  const givenFile = resolve(o.planetFile);
  const given = loadPlanet(givenFile);
  mkdirSync(o.dir, { recursive: true });
  let planetFile = givenFile;
  let planet = given;
  let up: Launched | undefined;
  let secret = await planetRunning(given);
  if (secret) {
    say(`proof: using the running planet ${planet.name}`);
    copyFileSync(givenFile, join(o.dir, "planet.yaml"));
  } else {
    // A planet the proof brings up starts from empty disks of its own, in the evidence
    // folder: a run must not depend on what earlier runs (or `npm start`) left in the data
    // dir — a store node still refilling from an earlier run's lost disk holds the whole
    // planet's stability back — and must not touch the operator's data either.
    planetFile = join(o.dir, "planet.yaml");
    writeFileSync(planetFile, withDataDir(readFileSync(givenFile, "utf8"), resolve(o.dir, "data")));
    planet = loadPlanet(planetFile);
    say(`proof: bringing planet ${planet.name} up…`);
    up = await launch({
      name: "redshirt up",
      command: nodeBin,
      args: [cliMain, "up", "--planet", planetFile],
      isReady: (line) => line.includes("is up"),
      readyTimeoutMs: planetUpMsMax,
    });
    secret = loadPlanetSecret(planetDataDir(planet));
    say(`proof: planet ${planet.name} is up`);
  }
  try {
    const startedAtIso = new Date().toISOString();
    const historyFile = join(o.dir, "history.jsonl");
    const history = await HistoryWriter.create(
      historyFile,
      loadHistoryHeader(planet, { seed: o.seed, commit: o.commit, durationMsPlanned: o.durationMs }),
    );
    const abort = new AbortController();
    const onAbort = () => abort.abort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    const chaosCtx: ChaosContext = {
      planet,
      planetFile,
      secret,
      seed: o.seed,
      durationMs: o.durationMs,
      clock: systemClock,
      record: (fault) => history.write(fault),
      signal: abort.signal,
    };
    say(
      `proof: ${o.durationMs / 1000} s of users in ${planet.clients.length} regions, chaos: ${o.chaos?.name ?? "none"}`,
    );
    let load: LoadSummary;
    try {
      const [summary] = await Promise.all([
        runLoad({
          planet,
          seed: o.seed,
          durationMs: o.durationMs,
          usersPerRegion: o.usersPerRegion,
          history,
          signal: abort.signal,
          ...(o.onProgress ? { onProgress: o.onProgress } : {}),
        }),
        o.chaos?.run(chaosCtx),
      ]);
      load = summary;
    } catch (err) {
      abort.abort();
      await history.close("error", systemClock.monoMs());
      throw err;
    } finally {
      o.signal?.removeEventListener("abort", onAbort);
    }
    await history.close(o.signal?.aborted ? "interrupted" : "complete", systemClock.monoMs());
    say("proof: checking the history…");
    const report = await checkHistory(fileSource(historyFile), o.check ?? {});
    writeFileSync(join(o.dir, "verdict.json"), `${JSON.stringify(report, null, 1)}\n`);
    const reportFiles = await writeReport(o.dir, report, o.reportFile);
    writeFileSync(
      join(o.dir, "run.json"),
      `${JSON.stringify(
        {
          seed: o.seed,
          commit: o.commit,
          planet: planet.name,
          startedAtIso,
          durationMs: o.durationMs,
          usersPerRegion: o.usersPerRegion,
          chaos: o.chaos?.name ?? null,
          startedPlanet: up !== undefined,
          load,
          verdict: report.verdict,
          report: "report.html",
        },
        null,
        1,
      )}\n`,
    );
    return { dir: o.dir, report, load, reportFiles, startedPlanet: up !== undefined };
  } finally {
    if (up) {
      say(`proof: taking planet ${planet.name} down…`);
      await up.stop(60_000);
    }
  }
}

/** Writes the HTML report of a checked history to DIR/report.html (and `also`, if given). */
async function writeReport(dir: string, report: CheckReport, also?: string): Promise<string[]> {
  const files = [join(dir, "report.html"), ...(also === undefined ? [] : [resolve(also)])];
  await writeHtmlReport(fileSource(join(dir, "history.jsonl")), report, files);
  return files;
}

/** Checks an evidence folder's history again, from the file alone, and writes its report again. */
export async function recheckProof(
  dir: string,
  options: CheckOptions = {},
  reportFile?: string,
): Promise<{ report: CheckReport; reportFiles: string[] }> {
  const report = await checkHistory(fileSource(join(dir, "history.jsonl")), options);
  return { report, reportFiles: await writeReport(dir, report, reportFile) };
}
