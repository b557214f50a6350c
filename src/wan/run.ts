// Production wiring of `redshirt wan --planet F --site S`: the system clock and randomness,
// the planet secret from the planet's data directory, JSON logs on stderr, one ready line on
// stdout, and a stop on SIGTERM or SIGINT (a second signal ends the process at once).
import { resolve } from "node:path";
import { createLogger, loadPlanetSecret, systemClock, systemRandom } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import { WanNode } from "./node.ts";

export async function runWanProcess(planet: Planet, options: { site: string }): Promise<number> {
  const log = createLogger({ part: "wan", site: options.site });
  const secret = loadPlanetSecret(resolve(planet.baseDir, planet.store.dataDir));
  const node = new WanNode({ planet, site: options.site, secret }, { clock: systemClock, random: systemRandom, log });
  await node.start();
  const admin = node.adminAddress;
  process.stdout.write(
    `${JSON.stringify({
      event: "ready",
      role: "wan",
      site: node.site,
      admin: `${admin.host}:${admin.port}`,
      links: node.list().map((l) => ({ id: l.id, rttMs: l.rttMs })),
      listeners: node.listenerCount,
    })}\n`,
  );
  return await new Promise<number>((done) => {
    let signalled = false;
    const onSignal = (signal: string): void => {
      if (signalled) process.exit(130);
      signalled = true;
      log.info("stopping", { signal });
      node.stop().then(
        () => done(0),
        (err) => {
          log.error("stop failed", { err });
          done(1);
        },
      );
    };
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    process.on("SIGINT", () => onSignal("SIGINT"));
  });
}
