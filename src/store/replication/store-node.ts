// The replication engine of one store node. Any node takes reads and writes for the keys it
// replicates (and forwards the others to a replica in its site). A write is stamped with
// this node's hybrid logical clock, applied as a CRDT op, committed to SQLite together with
// an entry in this node's outbound log (one commit per turn of the event loop), streamed to
// every replica of the key's partition in every site, and acknowledged once the requested
// consistency level holds. See docs/store-internals.md for why this loses nothing.
//
// This file is the node's shell: it wires the shared state (node-context.ts) from its
// components and runs the lifecycle; each concern lives in its own file (write-path,
// read-path, streams, inbound, stability, housekeeping, local-state).
import { type Clock, type Logger, type Random, Registry, type Startable, type TimerHandle } from "../../core/index.ts";
import { type Planet, storeNodeById } from "../../topology/index.ts";
import type {
  MembershipView,
  MutateRequest,
  MutateResult,
  NodeHealth,
  ReadRequest,
  ReadResponse,
  SessionToken,
  StoreApi,
} from "../api-types.ts";
import { HybridClock, hlcWallMs } from "../crdt/hlc.ts";
import { storeErrors } from "../errors.ts";
import type { Storage } from "../storage/storage.ts";
import type { Transport } from "../wire/transport.ts";
import { AntiEntropy } from "./anti-entropy.ts";
import { Calls } from "./calls.ts";
import { hintRebuildBatch } from "./engine-constants.ts";
import { HintIndex } from "./hint-index.ts";
import { savedHlc, startLease } from "./hlc-lease.ts";
import { saveCursors, scheduleTick } from "./housekeeping.ts";
import { onMessage } from "./inbound.ts";
import { openIncarnation } from "./incarnation.ts";
import { InternalErrors } from "./internal-errors.ts";
import { LocalState } from "./local-state.ts";
import {
  changeMembership,
  encodeMembership,
  initialMembership,
  inTransition,
  type Membership,
  type MembershipChange,
} from "./membership.ts";
import {
  adoptMembership,
  applyPlacement,
  fillLeft,
  loadMembership,
  onSynced,
  preferredPeers,
} from "./membership-sync.ts";
import { HashTrees } from "./merkle.ts";
import type { NodeContext } from "./node-context.ts";
import { createNodeMetrics, renderNodeMetrics } from "./node-metrics.ts";
import { OutboundStream } from "./outbound-stream.ts";
import { truncatedMetaName } from "./peer-liveness.ts";
import { settle } from "./pending-writes.ts";
import { read } from "./read-path.ts";
import { createRelayState } from "./relay-out.ts";
import { onPeerChange, pumpAll } from "./streams.ts";
import { mutate } from "./write-path.ts";

export type StoreNodeInit = { readonly planet: Planet; readonly nodeId: string };

export type StoreNodeComponents = {
  readonly storage: Storage;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** Runs fn after the current turn (group commit). Default: setImmediate. */
  readonly defer?: (fn: () => void) => void;
  /** Called when a newer membership record is adopted (point the transport at its members). */
  readonly onMembership?: (membership: Membership) => void;
};

export function createStoreNode(init: StoreNodeInit, components: StoreNodeComponents): StoreNode {
  return new StoreNode(init, components);
}

export class StoreNode implements StoreApi, Startable {
  readonly id: string;
  readonly site: string;
  readonly metrics = new Registry();

  readonly #node: NodeContext;
  #tickTimer: TimerHandle | undefined;

  constructor(init: StoreNodeInit, components: StoreNodeComponents) {
    const m = createNodeMetrics(this.metrics);
    const me = storeNodeById(init.planet, init.nodeId);
    if (!me) throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `unknown node id ${init.nodeId}`);
    this.id = me.id;
    this.site = me.site;
    const { storage, transport, clock, random, logger: log } = components;
    // A restarted node resumes past its lease: it may have advertised stamps up to it.
    const hlc = new HybridClock(clock, savedHlc(storage));
    const trees = new HashTrees(init.planet.store.partitions);
    const membership = loadMembership({ storage }, initialMembership(init.planet));
    let hasKeys = false;
    for (let p = 0; p < init.planet.store.partitions && !hasKeys; p++)
      hasKeys = storage.scanDigests(p, undefined, 1).length > 0;
    const incarnation = openIncarnation(storage, () => randomId(random), hasKeys);
    m.refilling.set(incarnation.phase === "sound" ? 0 : 1);
    const node: NodeContext = {
      id: me.id,
      site: me.site,
      planet: init.planet,
      storage,
      transport,
      clock,
      random,
      log,
      hlc,
      trees,
      m,
      errors: new InternalErrors(m.internalErrors, log, clock),
      membership,
      replicas: [],
      targets: [],
      siteOrder: [],
      mine: [],
      others: [],
      change: {
        fill: new Map(),
        fillFromMs: undefined,
        fillers: new Set(),
        filledEpoch: 0,
        epochOf: new Map(),
        filledOf: new Map(),
        lastHeardMs: new Map(),
        gone: new Set(),
        heardSinceStart: new Set(),
        goneReports: new Map(),
        truncatedPast: Number(storage.meta(truncatedMetaName) ?? 0),
        refill: new Map(),
        dedupOwed: new Map(),
        dedupPulls: new Map(),
      },
      onMembership: components.onMembership ?? (() => {}),
      local: new LocalState({
        storage,
        clock,
        log,
        hlc,
        dedupWindowMs: init.planet.store.dedupWindowS * 1_000,
        trees,
        m,
        // The group commit runs at the end of the turn; what it releases leaves right after it.
        defer:
          components.defer ??
          ((fn) =>
            setImmediate(() => {
              fn();
              transport.flush?.();
            })),
        stable: () => node.stable,
        onAppended: () => pumpAll(node),
      }),
      // A fresh run id per start: answers to the previous run's calls find no call here.
      calls: new Calls(me.id, randomId(random)),
      hints: new HintIndex(),
      antiEntropy: new AntiEntropy({
        self: me.id,
        partitions: [],
        replicasOf: () => [],
        onSynced: (peer, partition, startMs) => onSynced(node, peer, partition, startMs),
        preferPeers: () => preferredPeers(node),
        trees,
        random,
        m,
        isUp: (n) => transport.isUp(n),
        send: (peer, message) => transport.send(peer, message),
        scanDigests: (p, afterKey, limit) => storage.scanDigests(p, afterKey, limit),
        stateOf: (key) => node.local.getState(key),
        mergeRemote: (key, partition, state) => node.local.mergeRemote(key, partition, state, "repair"),
        settling: (key) => node.local.settling.isSettling(key, clock.monoMs()),
      }),
      out: new Map(),
      relay: createRelayState(),
      expect: new Map(),
      recv: new Map(),
      completeOf: new Map(),
      cursorsSaved: new Map(),
      stable: 0,
      incarnation,
      refill: undefined,
      pending: [],
      state: "new",
      chores: {
        lastGossipMs: Number.NEGATIVE_INFINITY,
        lastTruncateMs: 0,
        sweep: { partitionIndex: 0, afterKey: undefined },
      },
    };
    this.#node = node;
    applyPlacement(node);
    m.peerGoneSeconds.collect(() => {
      const nowMs = clock.monoMs();
      return [...node.change.gone].map((peer) => [
        { peer },
        Math.round((nowMs - (node.change.lastHeardMs.get(peer) ?? nowMs)) / 1_000),
      ]);
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    const node = this.#node;
    if (node.state !== "new") return;
    node.state = "running";
    node.storage.forEachDigest((key, partition, d) => node.trees.update(partition, key, 0, d));
    startLease(node);
    rebuildHints(node);
    const cursors = node.storage.cursors();
    const nowMs = node.clock.monoMs();
    for (const peer of node.others) {
      node.out.set(peer, new OutboundStream(peer, cursors.get(peer) ?? 0, nowMs));
      node.cursorsSaved.set(peer, cursors.get(peer) ?? 0);
      node.change.lastHeardMs.set(peer, nowMs);
    }
    node.onMembership(node.membership);
    node.transport.onMessage((from, message) => onMessage(node, from, message));
    node.transport.onPeerChange((peer, up) => onPeerChange(node, peer, up));
    await node.transport.start();
    scheduleTick(node, (timer) => {
      this.#tickTimer = timer;
    });
    node.log.info("store node started", {
      node: node.id,
      incarnation: node.incarnation.id,
      phase: node.incarnation.phase,
      partitions: node.mine.length,
      logEntries: node.storage.logLength(),
    });
  }

  async stop(): Promise<void> {
    const node = this.#node;
    if (node.state !== "running") {
      node.state = "stopped";
      return;
    }
    node.state = "stopped";
    this.#tickTimer?.cancel();
    node.local.flush();
    saveCursors(node);
    // Committed here already, so maybe applied: indefinite (retry with the same op id).
    for (const pw of node.pending) settle(pw, storeErrors.create("RS_ERR_STORE_INTERRUPTED", node.id));
    node.pending = [];
    node.calls.failAll("shutting down");
    await node.transport.stop();
  }

  // ---------------------------------------------------------------- public API

  async mutate(request: MutateRequest): Promise<MutateResult> {
    const node = this.#node;
    const started = node.clock.monoMs();
    const labels = { op: request.mutation.kind, consistency: request.consistency, outcome: "ok" };
    try {
      return await mutate(node, request, false);
    } catch (err) {
      labels.outcome = (err as { code?: string }).code ?? "error";
      throw err;
    } finally {
      node.m.ops.inc(labels);
      node.m.latency.observe(node.clock.monoMs() - started, { op: "write" });
    }
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    const node = this.#node;
    const started = node.clock.monoMs();
    const labels = { op: "get", consistency: request.consistency, outcome: "ok" };
    try {
      return await read(node, request, false);
    } catch (err) {
      labels.outcome = (err as { code?: string }).code ?? "error";
      throw err;
    } finally {
      node.m.ops.inc(labels);
      node.m.latency.observe(node.clock.monoMs() - started, { op: "read" });
    }
  }

  health(): NodeHealth {
    const node = this.#node;
    const up = node.others.filter((n) => node.transport.isUp(n));
    return {
      node: node.id,
      site: node.site,
      ok: node.state === "running",
      peersUp: up,
      peersDown: node.others.filter((n) => !node.transport.isUp(n)),
      hintsPending: node.storage.logLength(),
      stableLagMs: node.stable === 0 ? -1 : Math.max(0, node.clock.nowMs() - hlcWallMs(node.stable)),
      incarnation: {
        id: node.incarnation.id,
        phase: node.incarnation.phase,
        reborn: node.incarnation.reborn,
        ...node.incarnation.refill,
      },
    };
  }

  /** The membership record this node holds and its part in a change in progress. */
  membership(): MembershipView {
    const node = this.#node;
    const nowMs = node.clock.monoMs();
    return {
      node: node.id,
      epoch: node.membership.epoch,
      changing: inTransition(node.membership),
      members: node.membership.members,
      fillPartitions: fillLeft(node),
      filledEpoch: node.change.filledEpoch,
      gone: [...node.change.gone].map((peer) => ({
        peer,
        silentS: Math.round((nowMs - (node.change.lastHeardMs.get(peer) ?? nowMs)) / 1_000),
      })),
      logEntries: node.storage.logLength(),
    };
  }

  /**
   * Makes the next membership record from this node's (`redshirt store join|leave|replace`)
   * and adopts it; gossip spreads it. Throws RS_ERR_STORE_MEMBERSHIP for a change that
   * cannot be made (unknown node, a change already in progress, ...).
   */
  changeMembership(change: MembershipChange): MembershipView {
    const node = this.#node;
    if (node.state !== "running") throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", node.id);
    const next = changeMembership(node.planet, node.membership, change);
    adoptMembership(node, next, `${change.op} asked here`);
    node.log.info("membership change", { change, record: encodeMembership(next) });
    return this.membership();
  }

  metricsText(): string {
    return renderNodeMetrics(this.#node, this.metrics);
  }

  /** The stability point: every replica has every op stamped at or before it. For tests. */
  get stable(): number {
    return this.#node.stable;
  }

  /** The greatest HLC this node stamped or took (it may run ahead of the wall clock: after a restart, by up to a lease). For tests. */
  get hlcLast(): number {
    return this.#node.hlc.last;
  }

  /** Internal errors counted since start (see internal-errors.ts); healthy runs keep it 0. For tests. */
  get internalErrors(): number {
    return this.#node.errors.total;
  }

  /** This data dir's incarnation id and phase ("refilling" until a new one was refilled). For tests. */
  /** The incarnation, its phase, and the peers that have not confirmed it yet although it is sound (they were gone). */
  get incarnation(): { readonly id: string; readonly phase: string; readonly unconfirmed: readonly string[] } {
    const inc = this.#node.incarnation;
    return { id: inc.id, phase: inc.phase, unconfirmed: [...inc.unconfirmed] };
  }

  /** The anti-entropy root of a partition (tests compare replicas with it). */
  treeRoot(partition: number): number {
    return this.#node.trees.root(partition);
  }

  treeRoots(): readonly number[] {
    const node = this.#node;
    return Array.from({ length: node.planet.store.partitions }, (_, p) =>
      node.mine.includes(p) ? node.trees.root(p) : 0,
    );
  }
}

/** A new incarnation's id: 16 hex digits from the node's randomness (seeded in the simulation). */
/** 64 random bits in hex: an incarnation id, a run id. */
function randomId(random: Random): string {
  let id = "";
  for (let i = 0; i < 4; i++) id += random.int(0x10000).toString(16).padStart(4, "0");
  return id;
}

/** The hints this node holds (log entries of partitions it does not replicate), indexed again after a restart. */
function rebuildHints(node: NodeContext): void {
  const mine = new Set(node.mine);
  for (let after = 0; ; ) {
    const batch = node.storage.readLog(after, hintRebuildBatch);
    if (batch.length === 0) return;
    for (const e of batch) if (!mine.has(e.partition)) node.hints.add(e);
    after = batch[batch.length - 1].seq;
  }
}

export type { SessionToken };
