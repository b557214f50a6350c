// dashboard: one page that shows the planet and lets you break it. `redshirt up` serves it
// on the first site's management address (.6.2, ports.dashboard): a world map with the
// sites by health, arcs from each client region to the site serving its users (from the
// virtual users' own operations), the night side and the follow-the-sun clock; per site its
// tiers and instances with req/s, p99 and errors; charts over time (uPlot); an event log;
// and controls that run the CLI's own operations over the authenticated control API. Live
// over server-sent events. Every asset comes from this server (npm packages), none from the
// internet. See docs/dashboard.md.
import { controlBearerToken, createLogger, type Logger, Registry } from "../core/index.ts";
import { type Planet, roleAddress } from "../topology/index.ts";
import type { Action } from "./actions.ts";
import { PlanetDashboard } from "./dashboard.ts";
import { DashboardServer } from "./server.ts";

export { type Action, type ActionName, actionNames, parseAction } from "./actions.ts";
export * as dashboardConstants from "./constants.ts";
export { type Hello, PlanetDashboard, type Push } from "./dashboard.ts";
export { dashboardErrors } from "./errors.ts";
export { type DashboardEvent, type EventKind, eventKinds } from "./events.ts";
export { type Arc, type Figures, type SeriesPoint, TrafficStats } from "./traffic-stats.ts";
export type { Health, InstanceView, PlanetView, SiteView } from "./view.ts";
export { project, type WorldMap, worldMap } from "./world-map.ts";

/** Where the dashboard listens: the first site's management address (.6.2) and ports.dashboard. */
export function dashboardEndpoint(planet: Planet): { host: string; port: number } {
  return { host: roleAddress(planet.sites[0].subnetCidr, "supervisor", 2), port: planet.ports.dashboard };
}

export type RunningDashboard = {
  /** The page's address, without the token. */
  readonly url: string;
  /** The page's address with the control token in its fragment (never sent to a server, so never in a log). */
  readonly operatorUrl: string;
  /** Runs one action as the page would (e.g. `up --users N` starts the virtual users). */
  run(action: Action): Promise<unknown>;
  stop(): Promise<void>;
};

/** Starts the dashboard's model and server for a running (or coming) planet. */
export async function startDashboard(options: {
  planet: Planet;
  secret: Buffer;
  host?: string;
  port?: number;
  log?: Logger;
}): Promise<RunningDashboard> {
  const at = dashboardEndpoint(options.planet);
  const host = options.host ?? at.host;
  const port = options.port ?? at.port;
  const log = options.log ?? createLogger({ part: "dashboard" });
  const metrics = new Registry();
  const dashboard = new PlanetDashboard({ planet: options.planet, secret: options.secret, log, metrics });
  const server = new DashboardServer({
    host,
    port,
    planet: options.planet,
    secret: options.secret,
    dashboard,
    log,
    metrics,
  });
  await server.listen();
  dashboard.start();
  const url = `http://${host}:${port}/`;
  return {
    url,
    operatorUrl: `${url}#token=${controlBearerToken(options.secret)}`,
    run: (action) => dashboard.run(action),
    async stop() {
      await server.close();
      await dashboard.stop();
    },
  };
}
