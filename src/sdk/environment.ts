// Where an app instance runs, from what its starter (`redshirt up`, a supervisor, systemd,
// Kubernetes) set: REDSHIRT_PLANET (the planet file; the demo's when absent) and
// REDSHIRT_SITE. Every app reads these two the same way, before it builds its store client.
import { loadPlanet, type Planet } from "../topology/index.ts";
import { sdkErrors } from "./errors.ts";

export function appEnvironment(env: NodeJS.ProcessEnv = process.env): { planet: Planet; site: string } {
  const planet = loadPlanet(env.REDSHIRT_PLANET ?? "examples/planet.yaml");
  const site = env.REDSHIRT_SITE;
  if (!site) throw sdkErrors.create("RS_ERR_SDK_CONFIG", "REDSHIRT_SITE: not set (the site this instance runs in)");
  return { planet, site };
}
