// What the control commands (status, scale, down) share: the planet file, and the planet
// secret the control token derives from (read, never created: `up` creates it).
import { resolve } from "node:path";
import { type PlanetControl, planetDataDir } from "../cattle/index.ts";
import { loadPlanetSecret } from "../core/index.ts";
import { loadPlanet } from "../topology/index.ts";

export function planetControl(planetFile: string): PlanetControl {
  const planet = loadPlanet(resolve(planetFile));
  return { planet, secret: loadPlanetSecret(planetDataDir(planet)) };
}

export function formatAgeMs(ms: number | null): string {
  if (ms === null) return "-";
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h${Math.floor((ms % 3_600_000) / 60_000)}m`;
}
