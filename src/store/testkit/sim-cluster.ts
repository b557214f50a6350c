// A whole planet of store nodes in one process, on a seeded simulated network, a manual
// clock and in-memory "disks": the deterministic simulation. A crash throws a node's
// engine away mid-flight (whatever it had not committed is gone, its timers never fire)
// and a restart builds a new engine on the same disk. Everything random comes from the
// seed, so a failing seed replays exactly.
import {
  type Clock,
  createLogger,
  ManualClock,
  type Random,
  seededRandom,
  type TimerHandle,
} from "../../core/index.ts";
import { type Planet, siteRttMs } from "../../topology/index.ts";
import type { MutateRequest, MutateResult, ReadRequest, ReadResponse } from "../api-types.ts";
import { createStoreNode, type StoreNode } from "../replication/store-node.ts";
import { MemoryStorage } from "./memory-storage.ts";
import { SimNetwork } from "./sim-network.ts";

/**
 * A node's wall clock: off true time by `offsetMs` and drifting by `driftPpm` (as NTP leaves
 * real hosts). Timers and the monotonic clock run at true time: skew is of the wall clock,
 * which is what the HLC, TTLs and expiry read.
 */
export type ClockSkew = { readonly offsetMs: number; readonly driftPpm: number };

/** A clock view for one incarnation of a node: once the node crashes its timers never fire. */
class IncarnationClock implements Clock {
  readonly #clock: ManualClock;
  readonly #skew: ClockSkew;
  alive = true;
  constructor(clock: ManualClock, skew: ClockSkew) {
    this.#clock = clock;
    this.#skew = skew;
  }
  nowMs(): number {
    return wallMsOf(this.#clock, this.#skew);
  }
  monoMs(): number {
    return this.#clock.monoMs();
  }
  setTimer(delayMs: number, fn: () => void): TimerHandle {
    return this.#clock.setTimer(delayMs, () => {
      if (this.alive) fn();
    });
  }
}

/** What a node with `skew` reads on its wall clock (whole ms, as the HLC takes them). */
export function wallMsOf(clock: ManualClock, skew: ClockSkew): number {
  return Math.round(clock.nowMs() + skew.offsetMs + (skew.driftPpm * clock.monoMs()) / 1e6);
}

type SimNode = {
  readonly id: string;
  readonly skew: ClockSkew;
  storage: MemoryStorage;
  engine: StoreNode | undefined;
  clock: IncarnationClock | undefined;
};

export type SimClusterOptions = {
  readonly planet: Planet;
  readonly seed: number;
  /** Probability that a message is lost. */
  readonly lossRate?: number;
  /** Extra random delay per message, ms. */
  readonly jitterMs?: number;
  /**
   * Each node's wall clock is off by a seeded offset in [-skewMsMax, skewMsMax] and drifts
   * by up to driftPpmMax (default 0: every clock exact).
   */
  readonly skewMsMax?: number;
  readonly driftPpmMax?: number;
  /** Sets some nodes' skew outright (the others keep their seeded one). */
  readonly skewOf?: (id: string) => ClockSkew | undefined;
};

export class SimCluster {
  readonly clock = new ManualClock();
  readonly random: Random;
  readonly network: SimNetwork;
  readonly planet: Planet;
  readonly nodes = new Map<string, SimNode>();
  readonly #logger = createLogger({}, { level: "error", write: () => {} });
  /** Internal errors counted by incarnations that are gone (crashed or stopped). */
  #internalErrorsOfPast = 0;

  constructor(options: SimClusterOptions) {
    this.planet = options.planet;
    this.random = seededRandom(options.seed);
    const siteOf = new Map(options.planet.storeNodes.map((n) => [n.id, n.site]));
    this.network = new SimNetwork({
      clock: this.clock,
      random: seededRandom(options.seed ^ 0x5eed),
      lossRate: options.lossRate ?? 0,
      jitterMs: options.jitterMs ?? 2,
      latencyMs: (a: string, b: string) => {
        const sa = siteOf.get(a);
        const sb = siteOf.get(b);
        if (!sa || !sb || sa === sb) return 0.2;
        return siteRttMs(options.planet, sa, sb) / 2;
      },
    });
    // A stream of its own, so clock skew leaves the rest of a seed's history as it was.
    const skewRandom = seededRandom(options.seed ^ 0xc10c);
    const skewMsMax = options.skewMsMax ?? 0;
    const driftPpmMax = options.driftPpmMax ?? 0;
    for (const n of options.planet.storeNodes) {
      const seeded = {
        offsetMs: Math.round((skewRandom.next() * 2 - 1) * skewMsMax),
        driftPpm: Math.round((skewRandom.next() * 2 - 1) * driftPpmMax),
      };
      const skew = options.skewOf?.(n.id) ?? seeded;
      this.nodes.set(n.id, { id: n.id, skew, storage: new MemoryStorage(), engine: undefined, clock: undefined });
    }
  }

  async startAll(): Promise<void> {
    for (const id of this.nodes.keys()) await this.start(id);
  }

  async start(id: string): Promise<void> {
    const node = this.#node(id);
    if (node.engine) return;
    const clock = new IncarnationClock(this.clock, node.skew);
    const engine = createStoreNode(
      { planet: this.planet, nodeId: id },
      {
        storage: node.storage,
        transport: this.network.transport(id),
        clock,
        random: seededRandom(this.random.int(2 ** 31)),
        logger: this.#logger,
        // A commit takes a while (the rest of the turn, the fsync): a crash can land before it.
        defer: (fn) => clock.setTimer(this.random.next() * 0.5, fn),
      },
    );
    node.clock = clock;
    node.engine = engine;
    await engine.start();
  }

  /** SIGKILL: the engine vanishes with whatever it had not committed; its disk stays. */
  crash(id: string): void {
    const node = this.#node(id);
    if (!node.engine) return;
    node.clock!.alive = false;
    this.#internalErrorsOfPast += node.engine.internalErrors;
    node.engine = undefined;
    node.clock = undefined;
    this.network.crash(id);
  }

  async restart(id: string): Promise<void> {
    this.network.restart(id);
    // A new incarnation gets a new handle on the same disk; the dead one's is fenced off.
    const node = this.#node(id);
    node.storage = node.storage.reopen();
    await this.start(id);
  }

  /** Internal errors counted by every incarnation of every node so far (healthy runs: 0). */
  internalErrors(): number {
    let total = this.#internalErrorsOfPast;
    for (const node of this.nodes.values()) total += node.engine?.internalErrors ?? 0;
    return total;
  }

  /** The node's wall clock now (its skew applied). */
  wallMs(id: string): number {
    return wallMsOf(this.clock, this.#node(id).skew);
  }

  skew(id: string): ClockSkew {
    return this.#node(id).skew;
  }

  isRunning(id: string): boolean {
    return this.#node(id).engine !== undefined;
  }

  engine(id: string): StoreNode | undefined {
    return this.#node(id).engine;
  }

  /** Runs a client request at a node, giving up (unacknowledged) after `giveUpMs` of simulated time. */
  request<T extends MutateResult | ReadResponse>(
    id: string,
    run: (engine: StoreNode) => Promise<T>,
    giveUpMs = 10_000,
  ): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
    const engine = this.#node(id).engine;
    if (!engine) return Promise.resolve({ ok: false, error: new Error(`${id} is down`) });
    return new Promise((resolve) => {
      let settled = false;
      const timer = this.clock.setTimer(giveUpMs, () => {
        if (settled) return;
        settled = true;
        resolve({ ok: false, error: new Error("no answer (node crashed or stuck)") });
      });
      run(engine).then(
        (value) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          resolve({ ok: true, value });
        },
        (error: Error) => {
          if (settled) return;
          settled = true;
          timer.cancel();
          resolve({ ok: false, error });
        },
      );
    });
  }

  mutate(id: string, request: MutateRequest, giveUpMs?: number) {
    return this.request(id, (e) => e.mutate(request), giveUpMs);
  }

  read(id: string, request: ReadRequest, giveUpMs?: number) {
    return this.request(id, (e) => e.read(request), giveUpMs);
  }

  /** A counter as one node holds it (local-one): 0 when absent, undefined when the node did not answer. */
  async counterAt(id: string, key: string): Promise<number | undefined> {
    const r = await this.settle(this.read(id, { key, consistency: "local-one" }));
    if (!r.ok) return undefined;
    return r.value.value.exists ? (r.value.value.value as number) : 0;
  }

  /**
   * Moves simulated time forward from one timer's instant to the next, letting promise
   * callbacks run between them as Node runs microtasks between two timer callbacks. (Steps
   * of a fixed length would run a delivery, the peer's commit and its ack in one go, before
   * the continuation of an `await` that Node would have run first.)
   */
  async advance(ms: number): Promise<void> {
    const end = this.clock.monoMs() + ms;
    for (;;) {
      const now = this.clock.monoMs();
      const next = this.clock.nextTimerMs();
      if (next === undefined || next > end) {
        if (now < end) this.clock.advance(end - now);
        await drainMicrotasks();
        return;
      }
      this.clock.advance(Math.max(0, next - now));
      await drainMicrotasks();
    }
  }

  /** Moves simulated time forward until the promise settles (at most maxMs of simulated time). */
  async settle<T>(promise: Promise<T>, maxMs = 60_000): Promise<T> {
    let done = false;
    const watched = promise.finally(() => {
      done = true;
    });
    for (let waited = 0; !done && waited < maxMs; waited += 10) await this.advance(10);
    if (!done) throw new Error(`still pending after ${maxMs} ms of simulated time`);
    return watched;
  }

  async stopAll(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (node.engine) {
        node.clock!.alive = false;
        this.#internalErrorsOfPast += node.engine.internalErrors;
        node.engine = undefined;
      }
    }
  }

  #node(id: string): SimNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }
}

/** Lets every pending promise callback run (setImmediate runs after the microtask queue is empty). */
function drainMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
