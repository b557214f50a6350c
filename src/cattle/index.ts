// cattle: running the planet's processes. Today: the local runner behind `redshirt up`,
// which starts every site's store nodes, app instances, gateways and DNS servers on this
// machine. Later: per-site supervisors (replace, drain, roll, follow the sun).
export { type PlanetProcess, PlanetRunner, planetProcesses, type RunnerOptions } from "./planet-runner.ts";
