// What `redshirt up` runs on this machine: one supervisor per site, each a detached process
// (its own session, its output in `<dataDir>/supervisors/<site>/supervisor.log`), so the
// planet keeps serving when `up` dies. A supervisor already running for a site (an earlier
// `up` was SIGKILLed) is adopted, not duplicated. start() waits until every site reports
// ready, showing each instance as it becomes ready, and fails fast on a crash loop; watch()
// reports replacements and starts a supervisor again if one dies; stop() stops everything.
// With `sites` (`redshirt up --site NAME`) it runs only those sites' supervisors, on the
// addresses the planet file gives them, and never asks the other sites' supervisors: on
// real hosts (or one network namespace per site) each host runs its own `up --site`.
import { join } from "node:path";
import { nodeBin } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import type { InstanceRow, SiteStatus } from "./control/api.ts";
import { controlErrors } from "./control/errors.ts";
import { type PlanetControl, type StopOutcome, siteStatus, stopSite } from "./control/operations.ts";
import { lockHolder, supervisorPidFile } from "./supervisor/lock.ts";
import { planetDataDir, supervisorDir } from "./supervisor/paths.ts";
import { logTail, pidAlive, spawnDetached } from "./supervisor/processes.ts";
import { loadState, stateFilePath } from "./supervisor/state-file.ts";
import { cliMain, repoRoot } from "./supervisor/tiers.ts";

export type RunnerOptions = {
  readonly planet: Planet;
  readonly planetFile: string;
  readonly secret: Buffer;
  /** The app every site runs (a file run with Node); default examples/shop/server.ts. */
  readonly appEntry?: string;
  readonly appVersion?: string;
  readonly onProgress?: (line: string) => void;
  /** The sites this machine runs (default: every site of the planet). */
  readonly sites?: readonly string[];
  /** How long every site may take to become ready (default 120 s). */
  readonly readyTimeoutMs?: number;
};

/** A slot failing this many times in a row during startup fails the start (a crash loop, not a slow start). */
export const startFailuresMax = 3;
const pollMs = 250;
const supervisorAnswerMsMax = 30_000;

export type SiteSupervisor = { readonly site: string; readonly pid: number; readonly adopted: boolean };

export class PlanetRunner {
  readonly #o: RunnerOptions;
  readonly #ctl: PlanetControl;
  readonly #dataDir: string;
  readonly #sites: readonly string[];
  readonly supervisors = new Map<string, SiteSupervisor>();
  #stopping = false;

  constructor(options: RunnerOptions) {
    this.#o = options;
    this.#ctl = { planet: options.planet, secret: options.secret, timeoutMs: 2_000 };
    this.#dataDir = planetDataDir(options.planet);
    const known = options.planet.sites.map((s) => s.name);
    const unknown = (options.sites ?? []).find((s) => !known.includes(s));
    if (unknown !== undefined) {
      throw controlErrors.create(
        "RS_ERR_CATTLE_CONTROL_UNKNOWN_SITE",
        `--site: ${JSON.stringify(unknown)} is not a site of planet ${options.planet.name} (sites: ${known.join(", ")})`,
      );
    }
    this.#sites = options.sites && options.sites.length > 0 ? [...options.sites] : known;
  }

  /** The sites this runner runs, in planet order. */
  get sites(): readonly string[] {
    return this.#sites;
  }

  #status(): Promise<Awaited<ReturnType<typeof siteStatus>>[]> {
    return Promise.all(this.#sites.map((s) => siteStatus(this.#ctl, s)));
  }

  #say(line: string): void {
    this.#o.onProgress?.(line);
  }

  /** Starts (or adopts) every site's supervisor, then waits until every site is ready. Throws on failure. */
  async start(): Promise<void> {
    await Promise.all(this.#sites.map((s) => this.#ensureSupervisor(s)));
    await this.#waitReady();
  }

  async #ensureSupervisor(site: string): Promise<void> {
    const dir = supervisorDir(this.#dataDir, site);
    const holder = lockHolder(supervisorPidFile(dir));
    if (holder) {
      this.#say(`${site}: adopting the running supervisor (pid ${holder.pid})`);
      await this.#waitAnswer(site, holder.pid);
      this.supervisors.set(site, { site, pid: holder.pid, adopted: true });
      return;
    }
    const args = [cliMain, "supervise", "--planet", this.#o.planetFile, "--site", site];
    if (this.#o.appEntry) args.push("--app", this.#o.appEntry);
    if (this.#o.appVersion) args.push("--app-version", this.#o.appVersion);
    const spawned = spawnDetached({
      command: nodeBin,
      args,
      env: process.env,
      cwd: repoRoot,
      logFile: join(dir, "supervisor.log"),
      header: JSON.stringify({ t: new Date().toISOString(), event: "start", role: "supervisor", site }),
    });
    if (spawned.pid <= 0) throw new Error(`${site}: the supervisor could not be started`);
    this.#say(`${site}: supervisor started (pid ${spawned.pid})`);
    this.supervisors.set(site, { site, pid: spawned.pid, adopted: false });
    await this.#waitAnswer(site, spawned.pid);
  }

  /** Waits until the site's control API answers, raced against the supervisor's death. */
  async #waitAnswer(site: string, pid: number): Promise<void> {
    const deadline = Date.now() + supervisorAnswerMsMax;
    for (;;) {
      if (this.#stopping) return;
      const a = await siteStatus(this.#ctl, site);
      if (a.reachable) return;
      if (!pidAlive(pid)) {
        const log = logTail(join(supervisorDir(this.#dataDir, site), "supervisor.log"), 2_048);
        throw new Error(`${site}: the supervisor exited before it answered; last output:\n${log}`);
      }
      if (Date.now() > deadline)
        throw new Error(`${site}: the supervisor did not answer within ${supervisorAnswerMsMax} ms`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  async #waitReady(): Promise<void> {
    const deadline = Date.now() + (this.#o.readyTimeoutMs ?? 120_000);
    const shown = new Set<string>();
    for (;;) {
      if (this.#stopping) return;
      const answers = await this.#status();
      const statuses = answers.flatMap((a) => (a.reachable ? [a.status] : []));
      const total = statuses.reduce((n, s) => n + s.tiers.reduce((m, t) => m + t.desired, 0), 0);
      for (const s of statuses) {
        for (const row of s.instances) {
          const key = `${s.site}/${row.id}`;
          if (row.state !== "ready" || !row.id || shown.has(key)) continue;
          shown.add(key);
          this.#say(
            `  ✓ ${row.tier.padEnd(7)} ${row.id.padEnd(18)} ${(row.address ?? "").padEnd(20)} (${shown.size}/${total})`,
          );
        }
        const looping = s.instances.find((r) => r.failures >= startFailuresMax);
        if (looping) throw new Error(describeFailure(s.site, looping));
      }
      const down = answers.find((a) => !a.reachable);
      if (down && !down.reachable) {
        const sup = this.supervisors.get(down.site);
        if (sup && !pidAlive(sup.pid)) throw new Error(`${down.site}: the supervisor died during startup`);
      }
      if (statuses.length === answers.length && statuses.every((s) => s.ready)) return;
      if (Date.now() > deadline) throw new Error(`not ready in time:\n${notReady(statuses)}`);
      await new Promise((r) => setTimeout(r, pollMs));
    }
  }

  /**
   * Runs until the planet is stopped by someone else (`redshirt down`): prints each
   * replacement, and starts a supervisor again when one died (it adopts its instances).
   */
  async watch(): Promise<void> {
    const seen = new Map<string, { pid: number | null; backoff: boolean }>();
    while (!this.#stopping) {
      await new Promise((r) => setTimeout(r, 1_000));
      if (this.#stopping) return;
      const answers = await this.#status();
      let stopped = 0;
      for (const a of answers) {
        if (a.reachable) {
          for (const line of changes(seen, a.status)) this.#say(line);
          continue;
        }
        const dir = supervisorDir(this.#dataDir, a.site);
        if (lockHolder(supervisorPidFile(dir))) continue; // alive, just slow to answer
        if (loadStateQuiet(stateFilePath(dir))?.stopped) {
          stopped++;
          continue;
        }
        this.#say(`! ${a.site}: the supervisor is gone; starting it again (it adopts the instances)`);
        await this.#ensureSupervisor(a.site).catch((err) => this.#say(`! ${a.site}: ${(err as Error).message}`));
      }
      if (stopped === answers.length) {
        this.#say("every supervisor stopped (redshirt down?)");
        return;
      }
    }
  }

  /** Stops this runner's supervisors and their instances, and waits until no process is left. */
  async stop(): Promise<StopOutcome[]> {
    this.#stopping = true;
    return await Promise.all(this.#sites.map((s) => stopSite(this.#ctl, s)));
  }
}

function loadStateQuiet(file: string): ReturnType<typeof loadState> {
  try {
    return loadState(file);
  } catch {
    return undefined;
  }
}

function describeFailure(site: string, row: InstanceRow): string {
  const exit = row.lastExit;
  const who = `${row.tier} ${row.id ?? exit?.id ?? "(none)"} (slot ${site}/${row.slot})`;
  const output = exit?.output ? `; last output:\n${exit.output.trimEnd()}` : "";
  return `${who} failed ${row.failures} times in a row: ${exit?.how ?? "unknown"}${output}`;
}

function notReady(statuses: readonly SiteStatus[]): string {
  return statuses
    .flatMap((s) => s.instances.filter((r) => r.state !== "ready").map((r) => `  ${s.site} ${r.slot}: ${r.state}`))
    .join("\n");
}

/**
 * What changed in a site since the last look, as lines for a person. `seen` keeps, per
 * slot, the pid last reported ready and the back-off last reported, so a replacement is
 * told once even when the polls missed its starting phase.
 */
function changes(seen: Map<string, { pid: number | null; backoff: boolean }>, now: SiteStatus): string[] {
  const out: string[] = [];
  for (const r of now.instances) {
    const key = `${now.site}/${r.slot}`;
    const was = seen.get(key);
    if (r.state === "ready" && was && was.pid !== null && r.pid !== was.pid && r.restarts > 0) {
      const who = r.tier === "app" ? `replaced by ${r.id}` : `${r.id} started again`;
      out.push(`↻ ${now.site} ${r.slot}: ${r.lastExit?.how ?? "died"}; ${who}, ready in ${r.lastReplaceMs ?? "?"} ms`);
    } else if (r.state === "backoff" && !was?.backoff) {
      out.push(`! ${now.site} ${r.slot}: ${r.lastExit?.how ?? "died"}; next start in ${r.nextStartInMs} ms (back-off)`);
    }
    if (r.state === "ready" || !was) seen.set(key, { pid: r.state === "ready" ? r.pid : null, backoff: false });
    if (r.state === "backoff") seen.set(key, { pid: was?.pid ?? null, backoff: true });
  }
  return out;
}
