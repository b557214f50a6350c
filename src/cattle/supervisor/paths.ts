// Where a planet's files are: its data directory (store data, the planet secret, and one
// folder per site's supervisor) and the owner tag that marks a supervisor's processes.
import { join, resolve } from "node:path";
import type { Planet } from "../../topology/index.ts";

export function planetDataDir(planet: Planet): string {
  return resolve(planet.baseDir, planet.store.dataDir);
}

/** Where a site's supervisor keeps its files: `<dataDir>/supervisors/<site>/`. */
export function supervisorDir(dataDir: string, site: string): string {
  return join(dataDir, "supervisors", site);
}

/** Marks every process a site's supervisor starts (in its environment), unique per data directory and site. */
export function ownerTagOf(dataDir: string, site: string): string {
  return `${dataDir}#${site}`;
}
