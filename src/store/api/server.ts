// The production wiring of one store node process, and the only place it is done: the
// engine over SQLite on disk and TCP to its peers, with the system clock and randomness,
// behind the HTTP API. Tests and the simulator wire the same engine to other components.
// Ports: HTTP on the planet's store port, node-to-node on the next one (storePeerPort).
// The planet secret is always read from the planet's data dir, also when `dataDir` moves the
// node's SQLite file elsewhere: it is one file per planet (per host), not per node.
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger, type Logger, loadPlanetSecret, Registry, systemClock, systemRandom } from "../../core/index.ts";
import { dialAddress, type Planet, storeNode, storeNodeById } from "../../topology/index.ts";
import { storePeerPort } from "../constants.ts";
import { createStoreNode } from "../replication/store-node.ts";
import { openSqliteStorage } from "../storage/sqlite-storage.ts";
import { createTcpTransport } from "../wire/tcp-transport.ts";
import { SkewedClock } from "./clock-skew.ts";
import { createStoreHttpServer } from "./http-api.ts";

export type StoreNodeProcessInit = {
  readonly planet: Planet;
  readonly nodeId: string;
  /** Where the node's SQLite file goes; default `<planet dir>/<store.dataDir>` (the planet secret stays there). */
  readonly dataDir?: string;
  readonly logger?: Logger;
};

export type RunningStoreNode = {
  readonly nodeId: string;
  readonly site: string;
  /** The HTTP API's base URL, e.g. http://127.10.1.1:7400. */
  readonly url: string;
  /** Where peers reach this node. */
  readonly peer: { readonly host: string; readonly port: number };
  readonly dataFile: string;
  /** Stops taking requests, stops the engine and its transport, closes the data file. Idempotent. */
  stop(): Promise<void>;
};

/** The data file of a node: `<planet.baseDir>/<planet.store.dataDir>/<nodeId>.sqlite` unless told otherwise. */
export function storeDataFile(planet: Planet, nodeId: string, dataDir?: string): string {
  return join(dataDir ?? resolve(planet.baseDir, planet.store.dataDir), `${nodeId}.sqlite`);
}

export async function startStoreNode(init: StoreNodeProcessInit): Promise<RunningStoreNode> {
  const { planet, nodeId } = init;
  // A node added by `redshirt store join` is not in the planet file: its id says where it is.
  const self = storeNodeById(planet, nodeId) ?? storeNode(planet, nodeId);
  const logger = init.logger ?? createLogger({ part: "store", node: nodeId });
  const dataFile = storeDataFile(planet, nodeId, init.dataDir);
  // Before anything opens: a node without the secret could talk to no peer.
  const secret = loadPlanetSecret(resolve(planet.baseDir, planet.store.dataDir));
  mkdirSync(resolve(dataFile, ".."), { recursive: true });
  const storage = openSqliteStorage(dataFile);
  const peer = { host: self.host, port: storePeerPort(self.port) };
  // Every dialer asks the topology where to dial: a peer of another site is reached through
  // this site's WAN link to it when the WAN is emulated, directly otherwise. The peers are
  // the members of the record the engine holds (the planet file's until one is learned).
  const peersOf = (members: readonly { id: string; site: string; host: string; port: number }[]) =>
    new Map(
      members
        .filter((n) => n.id !== nodeId)
        .map(
          (n) =>
            [
              n.id,
              dialAddress(planet, self.site, { host: n.host, port: storePeerPort(n.port), site: n.site }),
            ] as const,
        ),
    );
  const peers = peersOf(planet.storeNodes);
  const transportMetrics = new Registry();
  const transport = createTcpTransport({
    self: nodeId,
    listen: peer,
    peers,
    secret,
    metrics: transportMetrics,
    clock: systemClock,
    logger: logger.child({ component: "transport" }),
  });
  // The engine's wall clock (its HLC) can be skewed by chaos through the authenticated
  // admin route; the transport keeps the real one.
  const clock = new SkewedClock(systemClock, (view) => logger.info("clock skew now", { ...view }));
  const engine = createStoreNode(
    { planet, nodeId },
    {
      storage,
      transport,
      clock,
      random: systemRandom,
      logger: logger.child({ component: "engine" }),
      onMembership: (m) => transport.setPeers(peersOf(m.members)),
    },
  );
  const http = createStoreHttpServer(engine, {
    host: self.host,
    port: self.port,
    logger: logger.child({ component: "http" }),
    nodeId,
    planet,
    secret,
    metricsText: () => transportMetrics.render(),
    clockSkew: clock,
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // No new requests first; the engine then answers the ones in flight (it fails what
      // it cannot finish with RS_ERR_STORE_INTERRUPTED, which clients retry elsewhere with the same op id),
      // so the HTTP server can close; only then the transport and the file.
      const httpStopped = http.stop();
      await engine.stop();
      await httpStopped;
      await transport.stop();
      storage.close();
      logger.info("store node stopped");
    })());
  try {
    await engine.start();
    await transport.start();
    await http.start();
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  const { host, port } = http.address;
  return { nodeId, site: self.site, url: `http://${host}:${port}`, peer, dataFile, stop };
}
