// Helpers for tests of supervisors: a planet file and secret in a temporary directory, a
// `redshirt supervise` process per site, control calls with the planet's token, bounded
// waits on status, and a cleanup that always leaves no process behind (the supervisor is
// asked to stop everything; whatever still carries the site's owner tag is killed).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  callControl,
  ownedProcesses,
  type PlanetControl,
  pidAlive,
  planetDataDir,
  type SiteStatus,
  stopSite,
} from "../../src/cattle/index.ts";
import { type Launched, launch, loadPlanetSecret, nodeBin } from "../../src/core/index.ts";
import { loadPlanet, type Planet } from "../../src/topology/index.ts";

export const cliMain = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
/** The hello app, for tests that read its JSON answer to `/` (the default app is the shop). */
export const helloApp = fileURLToPath(new URL("../../examples/hello/server.ts", import.meta.url));

export type TestPlanet = { dir: string; planetFile: string; planet: Planet; ctl: PlanetControl };

export function writePlanet(prefix: string, yaml: string): TestPlanet {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(planetFile, yaml);
  const planet = loadPlanet(planetFile);
  const secret = loadPlanetSecret(planetDataDir(planet), { create: true });
  return { dir, planetFile, planet, ctl: { planet, secret, timeoutMs: 3_000 } };
}

export async function startSupervisor(tp: TestPlanet, site: string, extra: string[] = []): Promise<Launched> {
  return await launch({
    name: `supervisor ${site}`,
    command: nodeBin,
    args: [cliMain, "supervise", "--planet", tp.planetFile, "--site", site, ...extra],
    readyTimeoutMs: 30_000,
  });
}

export function status(tp: TestPlanet, site: string): Promise<SiteStatus> {
  const s = tp.planet.supervisors.find((x) => x.site === site)!;
  return callControl<SiteStatus>({ host: s.host, port: s.port, site }, tp.ctl.secret, "status");
}

/** Polls the site's status until ok(status) holds; throws with the last status after timeoutMs. */
export async function waitStatus(
  tp: TestPlanet,
  site: string,
  ok: (s: SiteStatus) => boolean,
  timeoutMs: number,
  what: string,
): Promise<SiteStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: SiteStatus | undefined;
  for (;;) {
    try {
      last = await status(tp, site);
      if (ok(last)) return last;
    } catch {
      // not answering yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms; last status:\n${JSON.stringify(last?.instances, null, 1)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops every process of the sites (via their supervisors, else directly) and removes the directory. */
export async function cleanup(
  tp: TestPlanet,
  sites: readonly string[],
  supervisors: readonly (Launched | undefined)[],
) {
  for (const site of sites) {
    try {
      await stopSite(tp.ctl, site, { waitMs: 20_000 });
    } catch {
      // fall through to the kill below
    }
  }
  for (const s of supervisors) await s?.stop(1_000);
  for (const site of sites) for (const pid of ownedProcesses(tp.planet, site)) killQuietly(pid);
  rmSync(tp.dir, { recursive: true, force: true });
}

export function killQuietly(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

export { pidAlive };
