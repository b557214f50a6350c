// The store's real engine, one node with its SQLite file and its TCP transport, behind a
// thin front that lets the HTTP layer's and the client's tests see and disturb what reaches
// it: the requests each "node" received, a failure or a hang injected per request, a health
// flag. Several fronts may share one engine: to the client they are a site's nodes, to the
// engine they are one — a replicated store whose replication is instantaneous, which is what
// the client's failover tests need (the client is what they prove; the engine's own
// replication is proven by the store's cluster and simulation tests).
//
// Every front asserts what the HTTP layer promises the engine (key length, consistency
// level, op id shape, mutation shape), so a request that slips through validation malformed
// makes the front throw AssertionFailed, the server answer 500, and the fuzz tests fail.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { assert, createLogger, Registry, systemClock, systemRandom } from "../../src/core/index.ts";
import {
  createStoreNode,
  createTcpTransport,
  type MutateRequest,
  type MutateResult,
  type Mutation,
  type NodeHealth,
  openSqliteStorage,
  type ReadRequest,
  type ReadResponse,
  type StoreApi,
  type StoreNode,
  storeConstants,
  type TcpTransport,
} from "../../src/store/index.ts";
import { consistencyLevels, validatePlanet } from "../../src/topology/index.ts";

export type EngineFront = StoreApi & {
  readonly nodeId: string;
  /** Every request this front received, in order. */
  readonly mutations: MutateRequest[];
  readonly reads: ReadRequest[];
  /** When set, decides per request whether to fail it instead of passing it on. */
  failWith: ((request: MutateRequest | ReadRequest) => Error | undefined) | undefined;
  /** When set, every request waits for it before it is passed on (a hung node). */
  hold: Promise<void> | undefined;
  /** When false, health says the node is not ok (503 on /healthz). */
  ok: boolean;
};

export type RealEngine = {
  readonly engine: StoreNode;
  /** The engine's SQLite file. */
  readonly dataFile: string;
  /** A front named nodeId over this engine. */
  front(nodeId: string): EngineFront;
  stop(): Promise<void>;
};

/**
 * Starts a one-node store (rf 1, one site named `site`, so its node is `<site>-store1`) whose
 * node listens for peers on the first store address of `subnet` (a /16 of the calling test
 * file's block) and keeps its data in a fresh temporary directory, removed at stop.
 */
export async function startRealEngine(options: { subnet: string; site?: string }): Promise<RealEngine> {
  const planet = validatePlanet({
    name: "engine",
    zone: "engine.test.",
    sites: [{ name: options.site ?? "e", city: "E", lat: 0, lon: 0, subnet: options.subnet, tiers: { store: 1 } }],
    store: { rf: 1 },
  });
  const node = planet.storeNodes[0];
  assert(node !== undefined, "the engine's planet has its one node");
  const dir = mkdtempSync(join(tmpdir(), "redshirt-engine-"));
  const dataFile = join(dir, `${node.id}.sqlite`);
  const storage = openSqliteStorage(dataFile);
  const logger = createLogger({ node: node.id }, { level: "error" });
  const transport: TcpTransport = createTcpTransport({
    self: node.id,
    listen: { host: node.host, port: storeConstants.storePeerPort(node.port) },
    peers: new Map(),
    secret: Buffer.alloc(32, 7),
    metrics: new Registry(),
    clock: systemClock,
    logger,
  });
  const engine = createStoreNode(
    { planet, nodeId: node.id },
    { storage, transport, clock: systemClock, random: systemRandom, logger },
  );
  await engine.start();
  await transport.start();
  let stopped = false;
  return {
    engine,
    dataFile,
    front: (nodeId) => engineFront(engine, nodeId),
    async stop() {
      if (stopped) return;
      stopped = true;
      await engine.stop();
      await transport.stop();
      storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function checkCommon(r: MutateRequest | ReadRequest): void {
  assert(typeof r.key === "string" && r.key.length > 0 && Buffer.byteLength(r.key) <= 1024, "key within limits");
  assert((consistencyLevels as readonly string[]).includes(r.consistency), "known consistency");
  assert(r.timeoutMs === undefined || (Number.isInteger(r.timeoutMs) && r.timeoutMs > 0), "timeoutMs valid");
  if (r.token) {
    for (const [node, hlc] of Object.entries(r.token)) {
      assert(typeof node === "string" && Number.isSafeInteger(hlc) && hlc >= 0, "token entries valid");
    }
  }
}

const strings = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === "string");
const plainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkMutation(m: Mutation): void {
  assert(m.ttlS === undefined || (Number.isInteger(m.ttlS) && m.ttlS > 0), "ttlS valid");
  switch (m.kind) {
    case "set":
      assert(m.value !== undefined, "set has a value");
      return;
    case "incr":
      assert(Number.isSafeInteger(m.by), "incr by a safe integer");
      return;
    case "sadd":
    case "srem":
      assert(strings(m.members), "members are strings");
      return;
    case "mset":
      assert(plainObject(m.fields) && Object.keys(m.fields).length > 0, "mset fields");
      return;
    case "mincr":
      assert(plainObject(m.fields) && Object.values(m.fields).every(Number.isSafeInteger), "mincr fields");
      return;
    case "mdel":
      assert(strings(m.fields), "mdel fields are strings");
      return;
    case "del":
      return;
    default:
      assert(false, `unknown mutation kind ${(m as { kind: string }).kind}`);
  }
}

function engineFront(engine: StoreNode, nodeId: string): EngineFront {
  const front: EngineFront = {
    nodeId,
    mutations: [],
    reads: [],
    failWith: undefined,
    hold: undefined,
    ok: true,
    async mutate(request: MutateRequest): Promise<MutateResult> {
      checkCommon(request);
      assert(typeof request.opId === "string" && /^[\x21-\x7e]{1,128}$/.test(request.opId), "op id valid");
      checkMutation(request.mutation);
      front.mutations.push(request);
      await front.hold;
      const failure = front.failWith?.(request);
      if (failure) throw failure;
      return engine.mutate(request);
    },
    async read(request: ReadRequest): Promise<ReadResponse> {
      checkCommon(request);
      front.reads.push(request);
      await front.hold;
      const failure = front.failWith?.(request);
      if (failure) throw failure;
      return engine.read(request);
    },
    health(): NodeHealth {
      const health = engine.health();
      return { ...health, node: nodeId, ok: health.ok && front.ok };
    },
    treeRoots: () => engine.treeRoots(),
    metricsText: () => engine.metricsText(),
  };
  return front;
}
