// The production wiring of one store node process, and the only place it is done: the
// engine over SQLite on disk and TCP to its peers, with the system clock and randomness,
// behind the HTTP API. Tests and the simulator wire the same engine to other components.
// Ports: HTTP on the planet's store port, node-to-node on the next one (storePeerPort).
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger, type Logger, systemClock, systemRandom } from "../../core/index.ts";
import { type Planet, storeNode } from "../../topology/index.ts";
import { storePeerPort } from "../constants.ts";
import { createStoreNode } from "../replication/store-node.ts";
import { openSqliteStorage } from "../storage/sqlite-storage.ts";
import { createTcpTransport } from "../wire/tcp-transport.ts";
import { createStoreHttpServer } from "./http-api.ts";

export type StoreNodeProcessInit = {
  readonly planet: Planet;
  readonly nodeId: string;
  /** Where the node's SQLite file goes; default `<planet dir>/<store.dataDir>`. */
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
  const self = storeNode(planet, nodeId);
  const logger = init.logger ?? createLogger({ part: "store", node: nodeId });
  const dataFile = storeDataFile(planet, nodeId, init.dataDir);
  mkdirSync(resolve(dataFile, ".."), { recursive: true });
  const storage = openSqliteStorage(dataFile);
  const peer = { host: self.host, port: storePeerPort(self.port) };
  const peers = new Map(
    planet.storeNodes
      .filter((n) => n.id !== nodeId)
      .map((n) => [n.id, { host: n.host, port: storePeerPort(n.port) }] as const),
  );
  const transport = createTcpTransport({
    self: nodeId,
    listen: peer,
    peers,
    clock: systemClock,
    logger: logger.child({ component: "transport" }),
  });
  const engine = createStoreNode(
    { planet, nodeId },
    { storage, transport, clock: systemClock, random: systemRandom, logger: logger.child({ component: "engine" }) },
  );
  const http = createStoreHttpServer(engine, {
    host: self.host,
    port: self.port,
    logger: logger.child({ component: "http" }),
    nodeId,
    planet,
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
