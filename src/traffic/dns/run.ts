// Production wiring of `redshirt dns`: the system clock and randomness, HTTP probes and
// peer reads from the server's own address (dialed where the topology says: through the
// WAN links when emulated), the planet secret (weight writes need its token), JSON logs on stderr, one ready line on stdout, and a graceful
// stop on SIGTERM or SIGINT.
import { resolve } from "node:path";
import { createLogger, loadPlanetSecret, systemClock, systemRandom } from "../../core/index.ts";
import { dialAddress, type Endpoint, type Planet, siteRttMs } from "../../topology/index.ts";
import { httpFetchView, httpProbe } from "./http.ts";
import { createDnsServer, dnsServerFor } from "./server.ts";

export async function runDnsServer(planet: Planet, options: { site: string; index: number }): Promise<number> {
  const self = dnsServerFor(planet, options.site, options.index);
  const logger = createLogger({ part: "dns", server: self.id });
  // Weight writes on the admin endpoint need the planet's control token.
  const dataDir = resolve(planet.baseDir, planet.store.dataDir);
  const secret = loadPlanetSecret(dataDir);
  // Other sites' gateways and peers are dialed where the topology says (through the WAN
  // links when emulated). A fresh connection to a far site costs two round trips (the
  // handshake, then the request) before any answer: physics no timeout can beat, so each
  // probe and peer read gets them on top of its own timeout.
  const dial = (t: Endpoint) => dialAddress(planet, options.site, t);
  const distanceMs = (site: string) => 2 * siteRttMs(planet, options.site, site);
  const probe = httpProbe(systemClock, self.host, dial);
  const fetchView = httpFetchView(systemClock, self.host, planet, dial);
  const server = createDnsServer(
    { planet, site: options.site, index: options.index, secret, dataDir },
    {
      clock: systemClock,
      random: systemRandom,
      logger,
      probe: (g, timeoutMs) => probe(g, timeoutMs + distanceMs(g.site)),
      fetchView: (peer, timeoutMs) => fetchView(peer, timeoutMs + distanceMs(peer.site)),
    },
  );
  await server.start();
  process.stdout.write(
    `${JSON.stringify({ event: "ready", id: self.id, host: self.host, port: server.port, adminHost: server.adminHost, adminPort: server.adminPort, zone: planet.zone })}\n`,
  );
  logger.info("dns server ready", {
    host: self.host,
    port: server.port,
    adminHost: server.adminHost,
    adminPort: server.adminPort,
  });
  return await new Promise<number>((resolve) => {
    const onSignal = (signal: string): void => {
      logger.info("stopping", { signal });
      server.stop().then(
        () => resolve(0),
        (err) => {
          logger.error("stop failed", { err });
          resolve(1);
        },
      );
    };
    process.once("SIGTERM", () => onSignal("SIGTERM"));
    process.once("SIGINT", () => onSignal("SIGINT"));
  });
}
