// The replication engine of one store node. Any node takes reads and writes for the keys it
// replicates (and forwards the others to a replica in its site). A write is stamped with
// this node's hybrid logical clock, applied as a CRDT op, committed to SQLite together with
// an entry in this node's outbound log (one commit per turn of the event loop), streamed to
// every replica of the key's partition in every site, and acknowledged once the requested
// consistency level holds. See docs/store-internals.md for why this loses nothing.
import { type Clock, type Logger, type Random, Registry, type Startable, type TimerHandle } from "../../core/index.ts";
import type { Consistency, Planet } from "../../topology/index.ts";
import type {
  MutateRequest,
  MutateResult,
  NodeHealth,
  ReadRequest,
  ReadResponse,
  ReadResult,
  SessionToken,
  StoreApi,
} from "../api-types.ts";
import {
  applyMutation,
  compact,
  decodeState,
  digest,
  encodeState,
  type KeyState,
  merge,
  nextExpiryMs,
  read,
} from "../crdt/crdt.ts";
import { HybridClock, hlcWallMs } from "../crdt/hlc.ts";
import { storeErrors } from "../errors.ts";
import type { KeyRow, LogAppend, LogEntry, Storage } from "../storage/storage.ts";
import type { Transport, WireMessage } from "../wire/transport.ts";
import { AntiEntropy } from "./anti-entropy.ts";
import {
  dirtyKeysMax,
  globalTimeoutMsDefault,
  gossipMs,
  keyBytesMax,
  localTimeoutMsDefault,
  logEntriesMax,
  logTailMax,
  pendingRequestsMax,
  spreadResendMs,
  stateCacheKeysMax,
  streamHeartbeatMs,
  sweepDelayMs,
  sweepKeysPerTick,
  sweepScanKeysPerTick,
  tickMs,
  tokenWaitMs,
} from "./engine-constants.ts";
import { HashTrees } from "./merkle.ts";
import { OutboundStream, type RepEntry } from "./outbound-stream.ts";
import { partitionOf, rendezvousOrder } from "./partition.ts";
import { levelMet } from "./quorum.ts";
import { mergeSessionTokens } from "./session-encoding.ts";
import { tokenSatisfied } from "./session-token.ts";

export type StoreNodeInit = { readonly planet: Planet; readonly nodeId: string };

export type StoreNodeComponents = {
  readonly storage: Storage;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  /** Runs fn after the current turn (group commit). Default: setImmediate. */
  readonly defer?: (fn: () => void) => void;
};

type PendingWrite = {
  readonly seq: number;
  readonly targets: ReadonlySet<string>;
  readonly holders: Set<string>;
  readonly partition: number;
  readonly level: Consistency;
  done: boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
  readonly timer: TimerHandle;
};

type ReplicaResponse = { readonly state: KeyState | undefined; readonly recv: ReadonlyMap<string, number> };

const consistencyLevels: ReadonlySet<string> = new Set(["local-one", "local-quorum", "global", "all"]);

export function createStoreNode(init: StoreNodeInit, components: StoreNodeComponents): StoreNode {
  return new StoreNode(init, components);
}

export class StoreNode implements StoreApi, Startable {
  readonly id: string;
  readonly site: string;
  readonly metrics = new Registry();

  readonly #planet: Planet;
  readonly #storage: Storage;
  readonly #transport: Transport;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #log: Logger;
  readonly #defer: (fn: () => void) => void;
  readonly #hlc: HybridClock;
  #hlcSaved: number;
  readonly #cursorsSaved = new Map<string, number>();
  readonly #trees: HashTrees;
  /** Per partition: replica node ids per site, in rendezvous order. */
  readonly #replicas: Map<string, string[]>[] = [];
  /** Per partition: every node of this site in rendezvous order (fallbacks for hints). */
  readonly #siteOrder: string[][] = [];
  /** Partitions this node replicates. */
  readonly #mine: number[] = [];
  readonly #others: string[];

  /** Recently used committed states, so a hot key is neither read from SQLite nor decoded again. */
  readonly #cache = new Map<string, { state: KeyState | undefined; row: KeyRow | undefined }>();
  // Group commit: what this turn changed, committed at once by #flush().
  #overlay = new Map<string, { state: KeyState | undefined; row: KeyRow | undefined }>();
  #puts = new Map<string, KeyRow | undefined>();
  #appends: LogAppend[] = [];
  #appendWaiters: ((seq: number | Error) => void)[] = [];
  #afterCommit: (() => void)[] = [];
  #flushScheduled = false;

  readonly #out = new Map<string, OutboundStream>();
  readonly #expect = new Map<string, number>();
  /** recv[C]: every op from C targeted here with log HLC <= this has been committed here. */
  readonly #recv = new Map<string, number>();
  readonly #completeOf = new Map<string, number>();
  #stable = 0;
  #tail: LogEntry[] = [];
  #pending: PendingWrite[] = [];
  readonly #calls = new Map<string, (message: WireMessage) => void>();
  #callSeq = 0;
  #tickTimer: TimerHandle | undefined;
  #lastGossipMs = Number.NEGATIVE_INFINITY;
  #lastTruncateMs = 0;
  #sweep = { partitionIndex: 0, afterKey: undefined as string | undefined };
  /** Keys with something to compact (counter ops, tombstones, dedup ids), oldest first. */
  readonly #dirty = new Map<string, { partition: number; sinceMs: number }>();
  readonly #antiEntropy: AntiEntropy;
  #state: "new" | "running" | "stopped" = "new";

  readonly #m = {
    ops: this.metrics.counter("redshirt_store_ops_total", "Client operations by kind, consistency and outcome."),
    latency: this.metrics.histogram("redshirt_store_op_latency_ms", "Client operation latency in ms."),
    replicated: this.metrics.counter("redshirt_store_replicated_entries_total", "Log entries applied from peers."),
    conflicts: this.metrics.counter(
      "redshirt_store_conflicts_merged_total",
      "Remote states or ops merged that changed the local value.",
    ),
    repairs: this.metrics.counter("redshirt_store_repairs_total", "Keys repaired, by read repair or anti-entropy."),
    hints: this.metrics.gauge("redshirt_store_hints_pending", "Log entries some target has not acknowledged yet."),
    lag: this.metrics.gauge("redshirt_store_replication_lag_ms", "How far behind now each peer site's streams are."),
    stableLag: this.metrics.gauge("redshirt_store_stable_lag_ms", "How far the stability point lags behind now."),
    tombstones: this.metrics.counter(
      "redshirt_store_keys_dropped_total",
      "Keys whose tombstones were dropped at stability.",
    ),
    compactions: this.metrics.counter("redshirt_store_compactions_total", "Key states compacted at stability."),
    walBytes: this.metrics.gauge("redshirt_store_storage_bytes", "Bytes used by this node's SQLite files."),
    commits: this.metrics.counter(
      "redshirt_store_commits_total",
      "SQLite commits (group commits: one per turn of the event loop).",
    ),
    committedKeys: this.metrics.counter("redshirt_store_committed_keys_total", "Key states written by those commits."),
  };

  constructor(init: StoreNodeInit, components: StoreNodeComponents) {
    this.#planet = init.planet;
    const me = init.planet.storeNodes.find((n) => n.id === init.nodeId);
    if (!me) throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `unknown node id ${init.nodeId}`);
    this.id = me.id;
    this.site = me.site;
    this.#storage = components.storage;
    this.#transport = components.transport;
    this.#clock = components.clock;
    this.#random = components.random;
    this.#log = components.logger;
    this.#defer = components.defer ?? ((fn) => setImmediate(fn));
    this.#hlcSaved = Number(this.#storage.meta("hlc") ?? 0);
    this.#hlc = new HybridClock(this.#clock, this.#hlcSaved);
    this.#trees = new HashTrees(init.planet.store.partitions);
    this.#others = init.planet.storeNodes.filter((n) => n.id !== this.id).map((n) => n.id);
    const bySite = new Map<string, string[]>();
    for (const n of init.planet.storeNodes) bySite.set(n.site, [...(bySite.get(n.site) ?? []), n.id]);
    const rf = init.planet.store.rf;
    for (let p = 0; p < init.planet.store.partitions; p++) {
      const replicas = new Map<string, string[]>();
      for (const [site, nodes] of bySite) {
        const order = rendezvousOrder(p, nodes);
        replicas.set(site, order.slice(0, rf));
        if (site === this.site) this.#siteOrder[p] = order;
      }
      this.#replicas[p] = replicas;
      if (replicas.get(this.site)?.includes(this.id)) this.#mine.push(p);
    }
    this.#antiEntropy = new AntiEntropy({
      self: this.id,
      partitions: this.#mine,
      replicasOf: (p) => [...this.#replicas[p].values()].flat().filter((n) => n !== this.id),
      trees: this.#trees,
      random: this.#random,
      isUp: (n) => this.#transport.isUp(n),
      send: (peer, message) => this.#transport.send(peer, message),
      keysOf: (p) => this.#storage.scanPartition(p, undefined, Number.MAX_SAFE_INTEGER).map((r) => r.key),
      stateOf: (key) => this.#getState(key),
      mergeRemote: (key, partition, state) => this.#mergeRemote(key, partition, state, "repair"),
      digestOf: (key) => this.#getRow(key)?.digest ?? 0,
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.#state !== "new") return;
    this.#state = "running";
    this.#storage.forEachDigest((key, partition, d) => this.#trees.update(partition, key, 0, d));
    const cursors = this.#storage.cursors();
    const nowMs = this.#clock.monoMs();
    for (const peer of this.#others) {
      this.#out.set(peer, new OutboundStream(peer, cursors.get(peer) ?? 0, nowMs));
      this.#cursorsSaved.set(peer, cursors.get(peer) ?? 0);
    }
    this.#transport.onMessage((from, message) => this.#onMessage(from, message));
    this.#transport.onPeerChange((peer, up) => this.#onPeerChange(peer, up));
    await this.#transport.start();
    this.#scheduleTick();
    this.#log.info("store node started", {
      node: this.id,
      partitions: this.#mine.length,
      logEntries: this.#storage.logLength(),
    });
  }

  async stop(): Promise<void> {
    if (this.#state !== "running") {
      this.#state = "stopped";
      return;
    }
    this.#state = "stopped";
    this.#tickTimer?.cancel();
    this.#flush();
    this.#saveCursors();
    for (const pw of this.#pending) this.#settle(pw, storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN"));
    this.#pending = [];
    for (const respond of this.#calls.values()) respond(["error", "shutting down"]);
    this.#calls.clear();
    await this.#transport.stop();
  }

  // ---------------------------------------------------------------- public API

  async mutate(request: MutateRequest): Promise<MutateResult> {
    const started = this.#clock.monoMs();
    const labels = { op: request.mutation.kind, consistency: request.consistency, outcome: "ok" };
    try {
      return await this.#mutate(request, false);
    } catch (err) {
      labels.outcome = (err as { code?: string }).code ?? "error";
      throw err;
    } finally {
      this.#m.ops.inc(labels);
      this.#m.latency.observe(this.#clock.monoMs() - started, { op: "write" });
    }
  }

  async read(request: ReadRequest): Promise<ReadResponse> {
    const started = this.#clock.monoMs();
    const labels = { op: "get", consistency: request.consistency, outcome: "ok" };
    try {
      return await this.#read(request, false);
    } catch (err) {
      labels.outcome = (err as { code?: string }).code ?? "error";
      throw err;
    } finally {
      this.#m.ops.inc(labels);
      this.#m.latency.observe(this.#clock.monoMs() - started, { op: "read" });
    }
  }

  health(): NodeHealth {
    const up = this.#others.filter((n) => this.#transport.isUp(n));
    return {
      node: this.id,
      site: this.site,
      ok: this.#state === "running",
      peersUp: up,
      peersDown: this.#others.filter((n) => !this.#transport.isUp(n)),
      hintsPending: this.#storage.logLength(),
      stableLagMs: this.#stable === 0 ? -1 : Math.max(0, this.#clock.nowMs() - hlcWallMs(this.#stable)),
    };
  }

  metricsText(): string {
    this.#m.hints.set(this.#storage.logLength());
    this.#m.walBytes.set(this.#storage.sizeBytes());
    const nowMs = this.#clock.nowMs();
    this.#m.stableLag.set(this.#stable === 0 ? -1 : nowMs - hlcWallMs(this.#stable));
    const bySite = new Map<string, number>();
    for (const n of this.#planet.storeNodes) {
      if (n.id === this.id) continue;
      const lagMs = nowMs - hlcWallMs(this.#recv.get(n.id) ?? 0);
      bySite.set(n.site, Math.max(bySite.get(n.site) ?? 0, lagMs));
    }
    for (const [site, lagMs] of bySite) this.#m.lag.set(lagMs, { peer_site: site });
    return this.metrics.render();
  }

  /** The stability point: every replica has every op stamped at or before it. For tests. */
  get stable(): number {
    return this.#stable;
  }

  /** The anti-entropy root of a partition (tests compare replicas with it). */
  treeRoot(partition: number): number {
    return this.#trees.root(partition);
  }

  treeRoots(): readonly number[] {
    return Array.from({ length: this.#planet.store.partitions }, (_, p) =>
      this.#mine.includes(p) ? this.#trees.root(p) : 0,
    );
  }

  // ---------------------------------------------------------------- writes

  async #mutate(request: MutateRequest, forwarded: boolean): Promise<MutateResult> {
    this.#checkRunning();
    const partition = this.#checkKey(request.key, request.consistency);
    if (typeof request.opId !== "string" || request.opId.length === 0 || request.opId.length > 256) {
      throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "opId must be a string of 1 to 256 characters");
    }
    const replicas = this.#replicas[partition];
    const local = replicas.get(this.site) ?? [];
    if (!local.includes(this.id)) {
      if (forwarded) throw storeErrors.create("RS_ERR_STORE_UNAVAILABLE", "forwarded to a node that is not a replica");
      return (await this.#forward(local, "m", request)) as MutateResult;
    }
    this.#checkLoad();
    const timeoutMs = request.timeoutMs ?? this.#defaultTimeoutMs(request.consistency);
    // The state is rewritten anyway: compact it first, so a hot key does not grow.
    const { state: stored, row: storedRow } = this.#getEntry(request.key);
    const h = this.#hlc.now();
    const before = stored && this.#stable > 0 ? compact(stored, this.#stable, h) : stored;
    const applied = applyMutation(before, request.mutation as never, {
      opId: request.opId,
      h,
      nowMs: this.#clock.nowMs(),
    });
    if (applied.duplicate) {
      // A retry of an op this replica already holds: make sure the level holds for it now.
      await this.#spread(request.key, partition, before, request.consistency, timeoutMs);
      return {
        value: applied.value as ReadResult,
        duplicate: true,
        token: mergeSessionTokens(request.token, { [this.id]: this.#hlc.last }),
      };
    }
    this.#putState(request.key, partition, applied.state, { old: storedRow, digest: digest(applied.state) });
    const targets = this.#targetsOf(partition);
    const seq = await this.#append({
      partition,
      key: request.key,
      lh: h,
      targets,
      payload: encodeState(applied.delta),
    });
    await this.#awaitLevel(seq, partition, targets, request.consistency, timeoutMs, applied.delta, request.key);
    return {
      value: applied.value as ReadResult,
      duplicate: false,
      token: mergeSessionTokens(request.token, { [this.id]: h }),
    };
  }

  #targetsOf(partition: number): string[] {
    const out: string[] = [];
    for (const nodes of this.#replicas[partition].values()) for (const n of nodes) if (n !== this.id) out.push(n);
    return out;
  }

  #awaitLevel(
    seq: number,
    partition: number,
    targets: readonly string[],
    level: Consistency,
    timeoutMs: number,
    delta: KeyState,
    key: string,
  ): Promise<void> {
    const replicas = this.#replicas[partition];
    const holders = new Set<string>([this.id]);
    if (levelMet(level, replicas, this.site, holders)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const pw: PendingWrite = {
        seq,
        targets: new Set(targets),
        holders,
        partition,
        level,
        done: false,
        resolve,
        reject,
        timer: this.#clock.setTimer(timeoutMs, () =>
          this.#settle(
            pw,
            storeErrors.create(
              "RS_ERR_STORE_CONSISTENCY",
              `${level} not met within ${timeoutMs} ms (held by ${[...pw.holders].join(", ")})`,
            ),
          ),
        ),
      };
      this.#pending.push(pw);
      this.#hintForDownReplicas(pw, key, delta);
    });
  }

  /** Sloppy quorum: a fallback node of this site holds the op for each local replica that is down. */
  #hintForDownReplicas(pw: PendingWrite, key: string, delta: KeyState): void {
    const local = this.#replicas[pw.partition].get(this.site) ?? [];
    const fallbacks = this.#siteOrder[pw.partition].filter(
      (n) => !local.includes(n) && n !== this.id && this.#transport.isUp(n),
    );
    let next = 0;
    for (const replica of local) {
      if (replica === this.id || this.#transport.isUp(replica) || next >= fallbacks.length) continue;
      const fallback = fallbacks[next++];
      const callId = this.#call(fallback, (reply) => {
        if (reply[0] === "hinted") this.#addHolder(pw, replica);
      });
      this.#transport.send(fallback, ["hint", callId, pw.partition, key, encodeState(delta), replica]);
    }
  }

  #addHolder(pw: PendingWrite, node: string): void {
    if (pw.done) return;
    pw.holders.add(node);
    if (levelMet(pw.level, this.#replicas[pw.partition], this.site, pw.holders)) this.#settle(pw);
  }

  #settle(pw: PendingWrite, err?: Error): void {
    if (pw.done) return;
    pw.done = true;
    pw.timer.cancel();
    if (err) pw.reject(err);
    else pw.resolve();
  }

  /** Sends this node's whole state of a key to every replica and waits for the level. */
  async #spread(
    key: string,
    partition: number,
    state: KeyState | undefined,
    level: Consistency,
    timeoutMs: number,
  ): Promise<void> {
    const replicas = this.#replicas[partition];
    const holders = new Set<string>([this.id]);
    if (levelMet(level, replicas, this.site, holders)) return;
    const bytes = encodeState(state as KeyState);
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let resend: TimerHandle | undefined;
      const finish = (err?: Error) => {
        settled = true;
        timer.cancel();
        resend?.cancel();
        if (err) reject(err);
        else resolve();
      };
      const timer = this.#clock.setTimer(timeoutMs, () => {
        if (!settled) finish(storeErrors.create("RS_ERR_STORE_CONSISTENCY", `${level} not met within ${timeoutMs} ms`));
      });
      // Replicas that have not confirmed are asked again now and then: a link may just be
      // coming back (this is a retry, after all).
      const sendAll = () => {
        for (const target of this.#targetsOf(partition)) {
          if (holders.has(target)) continue;
          const callId = this.#call(target, (reply) => {
            if (settled || reply[0] !== "repaired") return;
            holders.add(target);
            if (levelMet(level, replicas, this.site, holders)) finish();
          });
          this.#transport.send(target, ["repair", callId, key, partition, bytes]);
        }
        if (!settled) resend = this.#clock.setTimer(spreadResendMs, sendAll);
      };
      sendAll();
    });
  }

  // ---------------------------------------------------------------- reads

  async #read(request: ReadRequest, forwarded: boolean): Promise<ReadResponse> {
    this.#checkRunning();
    const partition = this.#checkKey(request.key, request.consistency);
    const replicas = this.#replicas[partition];
    const local = replicas.get(this.site) ?? [];
    if (!local.includes(this.id)) {
      if (forwarded) throw storeErrors.create("RS_ERR_STORE_UNAVAILABLE", "forwarded to a node that is not a replica");
      return (await this.#forward(local, "r", request)) as ReadResponse;
    }
    const timeoutMs = request.timeoutMs ?? this.#defaultTimeoutMs(request.consistency);
    const token = request.token;
    const tokenNodes = Object.keys(token ?? {});
    const responses = new Map<string, ReplicaResponse>();
    responses.set(this.id, { state: this.#getState(request.key), recv: this.#recvFor(tokenNodes) });
    const done = (): boolean =>
      levelMet(request.consistency, replicas, this.site, new Set(responses.keys())) &&
      tokenSatisfied(token, responses.values());
    if (!done()) {
      const localFirst = request.consistency === "local-one" || request.consistency === "local-quorum";
      const ask = (nodes: readonly string[]) => {
        for (const n of nodes) {
          if (n === this.id || responses.has(n)) continue;
          const callId = this.#call(n, (reply) => {
            if (reply[0] !== "readres") return;
            const bytes = reply[2] as Uint8Array | null;
            const recvList = reply[3] as number[];
            responses.set(n, {
              state: bytes ? decodeState(bytes) : undefined,
              recv: new Map(tokenNodes.map((t, i) => [t, recvList[i] ?? 0])),
            });
            check();
          });
          this.#transport.send(n, ["read", callId, request.key, tokenNodes]);
        }
      };
      let check = (): void => {};
      await new Promise<void>((resolve, reject) => {
        const timers: TimerHandle[] = [];
        const finish = (err?: Error) => {
          check = () => {};
          for (const t of timers) t.cancel();
          if (err) reject(err);
          else resolve();
        };
        check = () => {
          if (done()) finish();
        };
        const all = [...replicas.values()].flat();
        ask(localFirst ? local : all);
        if (localFirst) {
          // The session's writes may not have reached this site yet (a failover): ask the other sites too.
          timers.push(
            this.#clock.setTimer(Math.min(tokenWaitMs, timeoutMs / 2), () => {
              if (!tokenSatisfied(token, responses.values())) ask(all);
            }),
          );
        }
        timers.push(
          this.#clock.setTimer(timeoutMs, () => {
            const levelOk = levelMet(request.consistency, replicas, this.site, new Set(responses.keys()));
            finish(
              levelOk
                ? storeErrors.create("RS_ERR_STORE_STALE", `key ${request.key}`)
                : storeErrors.create(
                    "RS_ERR_STORE_CONSISTENCY",
                    `${request.consistency} read not met within ${timeoutMs} ms (answered: ${[...responses.keys()].join(", ")})`,
                  ),
            );
          }),
        );
        check();
      });
    }
    let merged: KeyState | undefined;
    for (const r of responses.values()) merged = merge(merged, r.state);
    this.#readRepair(request.key, partition, merged, responses);
    return { value: read(merged, this.#clock.nowMs()) as ReadResult, token: token ?? {} };
  }

  #readRepair(
    key: string,
    partition: number,
    merged: KeyState | undefined,
    responses: ReadonlyMap<string, ReplicaResponse>,
  ): void {
    if (!merged || responses.size < 2) return;
    const want = digest(merged);
    let bytes: Uint8Array | undefined;
    for (const [node, r] of responses) {
      if (digest(r.state) === want) continue;
      this.#m.repairs.inc({ kind: "read" });
      if (node === this.id) {
        this.#mergeRemote(key, partition, merged, "repair");
      } else {
        bytes ??= encodeState(merged);
        this.#transport.send(node, ["repair", "", key, partition, bytes]);
      }
    }
  }

  #recvFor(nodes: readonly string[]): Map<string, number> {
    return new Map(nodes.map((n) => [n, n === this.id ? this.#hlc.last : (this.#recv.get(n) ?? 0)]));
  }

  // ---------------------------------------------------------------- forwarding

  async #forward(local: readonly string[], kind: "m" | "r", request: MutateRequest | ReadRequest): Promise<unknown> {
    const target = local.find((n) => this.#transport.isUp(n));
    if (!target) {
      throw storeErrors.create("RS_ERR_STORE_CONSISTENCY", `no replica of the key is reachable in site ${this.site}`);
    }
    const timeoutMs = (request.timeoutMs ?? this.#defaultTimeoutMs(request.consistency)) + 500;
    return await new Promise((resolve, reject) => {
      const timer = this.#clock.setTimer(timeoutMs, () => {
        this.#calls.delete(callId);
        reject(storeErrors.create("RS_ERR_STORE_UNAVAILABLE", `replica ${target} did not answer in ${timeoutMs} ms`));
      });
      const callId = this.#call(target, (reply) => {
        timer.cancel();
        if (reply[0] === "fwdres" && reply[2] === null) resolve(reply[3]);
        else {
          const e = (reply[2] ?? {}) as { code?: string; message?: string };
          const code = (e.code && e.code in storeErrors.codes ? e.code : "RS_ERR_STORE_UNAVAILABLE") as never;
          reject(storeErrors.create(code, `via ${target}: ${e.message ?? "no answer"}`));
        }
      });
      if (!this.#transport.send(target, ["fwd", callId, kind, request])) {
        timer.cancel();
        this.#calls.delete(callId);
        reject(storeErrors.create("RS_ERR_STORE_UNAVAILABLE", `cannot reach replica ${target}`));
      }
    });
  }

  /** Registers a one-shot reply handler and returns its call id. */
  #call(_peer: string, onReply: (message: WireMessage) => void): string {
    const callId = `${this.id}:${++this.#callSeq}`;
    if (this.#calls.size >= pendingRequestsMax) {
      // The oldest calls are the ones least likely to be answered.
      const oldest = this.#calls.keys().next().value as string;
      this.#calls.get(oldest)?.(["error", "dropped"]);
      this.#calls.delete(oldest);
    }
    this.#calls.set(callId, (m) => {
      this.#calls.delete(callId);
      onReply(m);
    });
    return callId;
  }

  // ---------------------------------------------------------------- messages

  #onMessage(from: string, message: WireMessage): void {
    if (this.#state !== "running" || !Array.isArray(message)) return;
    try {
      this.#dispatch(from, message);
    } catch (err) {
      this.#log.warn("bad message from peer", { peer: from, type: String(message[0]), err: err as Error });
    }
  }

  #dispatch(from: string, m: WireMessage): void {
    switch (m[0]) {
      case "rep":
        this.#onRep(from, m[1] as number, m[2] as number, m[3] as number, m[4] as RepEntry[]);
        return;
      case "ack":
        this.#onAck(from, m[1] as number);
        return;
      case "nack":
        this.#out.get(from)?.rewind(m[1] as number, this.#clock.monoMs());
        this.#pump(from);
        return;
      case "stab":
        this.#hlc.observe(m[2] as number);
        this.#completeOf.set(from, m[1] as number);
        this.#recomputeStable();
        return;
      case "read": {
        const [, callId, key, tokenNodes] = m as [string, string, string, string[]];
        const state = this.#getState(key);
        const recv = this.#recvFor(tokenNodes);
        this.#transport.send(from, [
          "readres",
          callId,
          state ? encodeState(state) : null,
          tokenNodes.map((n) => recv.get(n) ?? 0),
        ]);
        return;
      }
      case "repair": {
        const [, callId, key, partition, bytes] = m as [string, string, string, number, Uint8Array];
        this.#mergeRemote(key, partition, decodeState(bytes), "repair");
        if (callId) this.#afterNextCommit(() => this.#transport.send(from, ["repaired", callId]));
        return;
      }
      case "hint": {
        const [, callId, partition, key, payload, target] = m as [string, string, number, string, Uint8Array, string];
        void this.#append({ partition, key, lh: this.#hlc.now(), targets: [target], payload }).then(
          () => this.#transport.send(from, ["hinted", callId]),
          () => {},
        );
        return;
      }
      case "fwd": {
        const [, callId, kind, request] = m as [string, string, string, MutateRequest & ReadRequest];
        const run = kind === "m" ? this.#mutate(request, true) : this.#read(request, true);
        run.then(
          (result) => this.#transport.send(from, ["fwdres", callId, null, result]),
          (err: Error & { code?: string }) =>
            this.#transport.send(from, ["fwdres", callId, { code: err.code, message: err.message }, null]),
        );
        return;
      }
      case "readres":
      case "repaired":
      case "hinted":
      case "fwdres": {
        const respond = this.#calls.get(m[1] as string);
        respond?.(m);
        return;
      }
      default:
        if (typeof m[0] === "string" && m[0].startsWith("ae-")) this.#antiEntropy.onMessage(from, m);
    }
  }

  #onRep(from: string, after: number, upTo: number, lh: number, entries: readonly RepEntry[]): void {
    const expected = this.#expect.get(from);
    if (expected !== undefined && after > expected) {
      // A batch went missing: ask the sender to go back.
      this.#transport.send(from, ["nack", expected]);
      return;
    }
    this.#expect.set(from, Math.max(expected ?? 0, upTo));
    this.#hlc.observe(lh);
    for (const [key, partition, payload] of entries) {
      this.#mergeRemote(key, partition, decodeState(payload), "replicate");
    }
    this.#m.replicated.inc(undefined, entries.length);
    this.#afterNextCommit(() => {
      if ((this.#recv.get(from) ?? 0) < lh) this.#recv.set(from, lh);
      this.#transport.send(from, ["ack", upTo]);
    });
  }

  #onAck(from: string, upTo: number): void {
    const stream = this.#out.get(from);
    if (!stream) return;
    if (stream.onAck(upTo, this.#clock.monoMs())) {
      for (const pw of this.#pending) {
        if (pw.seq > upTo) break;
        if (pw.targets.has(from)) this.#addHolder(pw, from);
      }
      this.#pending = this.#pending.filter((pw) => !pw.done);
    }
    this.#pump(from);
  }

  #onPeerChange(peer: string, up: boolean): void {
    const stream = this.#out.get(peer);
    if (!stream) return;
    stream.reset(this.#clock.monoMs());
    if (!up) this.#expect.delete(peer);
    else this.#pump(peer);
  }

  // ---------------------------------------------------------------- state and group commit

  #getRow(key: string): KeyRow | undefined {
    const o = this.#overlay.get(key);
    return o ? o.row : this.#storage.getKey(key);
  }

  #getState(key: string): KeyState | undefined {
    return this.#getEntry(key).state;
  }

  /** A key's state and its stored row (with the digest), from this turn's changes or the disk. */
  #getEntry(key: string): { state: KeyState | undefined; row: KeyRow | undefined } {
    const o = this.#overlay.get(key);
    if (o) return o;
    const cached = this.#cache.get(key);
    if (cached) {
      // Refresh its place: the map's insertion order is the eviction order.
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached;
    }
    const row = this.#storage.getKey(key);
    const entry = { state: row ? decodeState(row.state) : undefined, row };
    if (row) this.#remember(key, entry);
    return entry;
  }

  /** Keeps a committed state in the cache of recently used keys (states are never mutated in place). */
  #remember(key: string, entry: { state: KeyState | undefined; row: KeyRow | undefined }): void {
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > stateCacheKeysMax) this.#cache.delete(this.#cache.keys().next().value as string);
  }

  /** Stages a key's new state for the next commit; `known` saves work the caller already did. */
  #putState(
    key: string,
    partition: number,
    state: KeyState | undefined,
    known?: { old: KeyRow | undefined; digest: number },
  ): void {
    const old = known ? known.old : this.#getRow(key);
    let row: KeyRow | undefined;
    if (state) {
      row = {
        key,
        partition,
        state: encodeState(state),
        digest: known ? known.digest : digest(state),
        expiresAtMs: nextExpiryMs(state),
      };
    }
    this.#trees.update(partition, key, old?.digest ?? 0, row?.digest ?? 0);
    if (state && needsCompaction(state) && !this.#dirty.has(key) && this.#dirty.size < dirtyKeysMax) {
      this.#dirty.set(key, { partition, sinceMs: this.#clock.monoMs() });
    }
    this.#overlay.set(key, { state, row });
    this.#puts.set(key, row);
    this.#scheduleFlush();
  }

  /** Merges a state or delta from a peer. Returns true when it changed this replica. */
  #mergeRemote(key: string, partition: number, remote: KeyState | undefined, kind: "replicate" | "repair"): boolean {
    const { state: local, row } = this.#getEntry(key);
    const merged = merge(local, remote);
    const before = row?.digest ?? 0;
    const after = merged ? digest(merged) : 0;
    if (merged && local && before === after && sameRepresentation(local, merged)) return false;
    if (local && before !== after) {
      this.#m.conflicts.inc({ kind });
      if (kind === "repair") this.#m.repairs.inc({ kind: "anti-entropy" });
    }
    this.#putState(key, partition, merged, { old: row, digest: after });
    return true;
  }

  #append(entry: LogAppend): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#appends.push(entry);
      this.#appendWaiters.push((seq) => (typeof seq === "number" ? resolve(seq) : reject(seq)));
      this.#scheduleFlush();
    });
  }

  #afterNextCommit(fn: () => void): void {
    this.#afterCommit.push(fn);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    this.#defer(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    const puts = this.#puts;
    const appends = this.#appends;
    const waiters = this.#appendWaiters;
    const after = this.#afterCommit;
    if (puts.size === 0 && appends.length === 0 && after.length === 0) return;
    this.#puts = new Map();
    this.#appends = [];
    this.#appendWaiters = [];
    this.#afterCommit = [];
    let seqs: number[] = [];
    if (puts.size > 0 || appends.length > 0) {
      const rows: KeyRow[] = [];
      const deletes: string[] = [];
      for (const [key, row] of puts) {
        if (row) rows.push(row);
        else deletes.push(key);
      }
      const meta: [string, string][] = [];
      if (this.#hlc.last !== this.#hlcSaved) {
        this.#hlcSaved = this.#hlc.last;
        meta.push(["hlc", String(this.#hlcSaved)]);
      }
      try {
        this.#m.commits.inc();
        this.#m.committedKeys.inc(undefined, rows.length + deletes.length);
        seqs = this.#storage.commit({
          puts: rows,
          deletes,
          appends,
          meta,
        });
      } catch (cause) {
        this.#overlay.clear();
        const err = storeErrors.create("RS_ERR_STORE_OVERLOADED", "the commit to disk failed", { cause });
        this.#log.error("commit failed", { err: cause as Error });
        for (const w of waiters) w(err);
        return;
      }
    }
    for (const [key, entry] of this.#overlay) {
      if (entry.row) this.#remember(key, entry);
      else this.#cache.delete(key);
    }
    this.#overlay.clear();
    for (let i = 0; i < appends.length; i++) {
      this.#tail.push({ ...appends[i], seq: seqs[i] });
      waiters[i](seqs[i]);
    }
    // Trimmed in chunks: copying the whole tail on every commit would cost more than the commit.
    if (this.#tail.length > 2 * logTailMax) this.#tail = this.#tail.slice(this.#tail.length - logTailMax);
    for (const fn of after) fn();
    if (appends.length > 0) for (const peer of this.#out.keys()) this.#pump(peer);
  }

  // ---------------------------------------------------------------- streams

  #readLog = (afterSeq: number, limit: number): readonly LogEntry[] => {
    const tail = this.#tail;
    if (tail.length > 0 && afterSeq >= tail[0].seq - 1) {
      let lo = 0;
      let hi = tail.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (tail[mid].seq <= afterSeq) lo = mid + 1;
        else hi = mid;
      }
      return tail.slice(lo, lo + limit);
    }
    return this.#storage.readLog(afterSeq, limit);
  };

  /** The HLC up to which this node's log is complete: nothing stamped at or before it is still to be appended. */
  #safeHlc(): number {
    let min = this.#hlc.last;
    for (const a of this.#appends) if (a.lh - 1 < min) min = a.lh - 1;
    return min;
  }

  #pump(peer: string, heartbeat = false): void {
    const stream = this.#out.get(peer);
    if (!stream || !this.#transport.isUp(peer)) return;
    const nowMs = this.#clock.monoMs();
    const lastSeq = this.#storage.lastSeq();
    for (;;) {
      const message = stream.next(
        this.#readLog,
        lastSeq,
        this.#safeHlc(),
        nowMs,
        (lastSendMs) => heartbeat && nowMs - lastSendMs >= streamHeartbeatMs,
      );
      if (!message) return;
      if (!this.#transport.send(peer, message)) {
        stream.reset(nowMs);
        return;
      }
      if ((message[4] as unknown[]).length === 0) return;
    }
  }

  // ---------------------------------------------------------------- stability and housekeeping

  #complete(): number {
    let min = Number.MAX_SAFE_INTEGER;
    for (const n of this.#others) min = Math.min(min, this.#recv.get(n) ?? 0);
    return this.#others.length === 0 ? this.#hlc.last : min;
  }

  #recomputeStable(): void {
    let min = this.#complete();
    for (const n of this.#others) min = Math.min(min, this.#completeOf.get(n) ?? 0);
    if (min > this.#stable) this.#stable = min;
  }

  #scheduleTick(): void {
    this.#tickTimer = this.#clock.setTimer(tickMs, () => {
      if (this.#state !== "running") return;
      try {
        this.#tick();
      } catch (err) {
        this.#log.error("tick failed", { err: err as Error });
      }
      this.#scheduleTick();
    });
  }

  #tick(): void {
    const nowMs = this.#clock.monoMs();
    for (const [peer, stream] of this.#out) {
      stream.checkTimeout(nowMs);
      this.#pump(peer, true);
    }
    if (nowMs - this.#lastGossipMs >= gossipMs) {
      this.#lastGossipMs = nowMs;
      const complete = this.#complete();
      for (const n of this.#others) this.#transport.send(n, ["stab", complete, this.#hlc.now()]);
      this.#recomputeStable();
    }
    for (let i = this.#pending.length - 1; i >= 0; i--) if (this.#pending[i].done) this.#pending.splice(i, 1);
    this.#antiEntropy.tick(nowMs);
    this.#sweepSome();
    if (nowMs - this.#lastTruncateMs >= 1_000) {
      this.#lastTruncateMs = nowMs;
      this.#saveCursors();
      let min = this.#storage.lastSeq();
      for (const s of this.#out.values()) min = Math.min(min, s.acked);
      this.#storage.truncateLog(min);
      this.#storage.maintain();
    }
  }

  /**
   * Persists the streams' acknowledged cursors once a second rather than with every commit
   * (a page written per commit for nothing): after a crash a stream resends at most a
   * second of entries, which its peer merges again without effect.
   */
  #saveCursors(): void {
    const cursors: [string, number][] = [];
    for (const s of this.#out.values()) {
      if (this.#cursorsSaved.get(s.peer) !== s.acked) {
        cursors.push([s.peer, s.acked]);
        this.#cursorsSaved.set(s.peer, s.acked);
      }
    }
    if (cursors.length > 0) this.#storage.commit({ cursors });
  }

  /**
   * Compacts keys at the stability point and clears expired ones, a bounded number per
   * tick: first keys that changed at least a second ago and have something to compact, then
   * a slow scan of everything (which finds what the dirty list lost to a restart).
   */
  #sweepSome(): void {
    if (this.#mine.length === 0) return;
    const nowH = this.#hlc.now();
    for (const row of this.#storage.expired(this.#clock.nowMs(), sweepKeysPerTick)) {
      this.#compactKey(row.key, row.partition, nowH);
    }
    if (this.#stable === 0) return;
    const nowMs = this.#clock.monoMs();
    let budget = sweepKeysPerTick;
    for (const [key, { partition, sinceMs }] of this.#dirty) {
      if (budget-- <= 0 || nowMs - sinceMs < sweepDelayMs) break;
      this.#dirty.delete(key);
      this.#compactKey(key, partition, nowH);
    }
    const partition = this.#mine[this.#sweep.partitionIndex % this.#mine.length];
    const rows = this.#storage.scanPartition(partition, this.#sweep.afterKey, sweepScanKeysPerTick);
    for (const row of rows) this.#compactKey(row.key, partition, nowH);
    if (rows.length === sweepScanKeysPerTick) this.#sweep.afterKey = rows[rows.length - 1].key;
    else {
      this.#sweep.partitionIndex = (this.#sweep.partitionIndex + 1) % this.#mine.length;
      this.#sweep.afterKey = undefined;
    }
  }

  #compactKey(key: string, partition: number, nowH: number): void {
    const { state, row } = this.#getEntry(key);
    if (!state) return;
    const compacted = compact(state, this.#stable, nowH);
    if (!compacted) {
      this.#m.tombstones.inc();
      this.#putState(key, partition, undefined, { old: row, digest: 0 });
      return;
    }
    const d = digest(compacted);
    if (d !== (row?.digest ?? 0) || !sameRepresentation(state, compacted)) {
      this.#m.compactions.inc();
      this.#putState(key, partition, compacted, { old: row, digest: d });
    }
  }

  // ---------------------------------------------------------------- checks

  #checkRunning(): void {
    if (this.#state !== "running") throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", this.id);
  }

  #checkKey(key: unknown, consistency: unknown): number {
    if (typeof key !== "string" || key.length === 0) {
      throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "key must be a non-empty string");
    }
    if (!key.isWellFormed()) {
      throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "key holds a lone UTF-16 surrogate (not valid Unicode)");
    }
    if (Buffer.byteLength(key) > keyBytesMax) {
      throw storeErrors.create("RS_ERR_STORE_KEY_TOO_LARGE", `${Buffer.byteLength(key)} bytes`);
    }
    if (typeof consistency !== "string" || !consistencyLevels.has(consistency)) {
      throw storeErrors.create("RS_ERR_STORE_BAD_CONSISTENCY", String(consistency));
    }
    return partitionOf(key, this.#planet.store.partitions);
  }

  #checkLoad(): void {
    if (this.#pending.length >= pendingRequestsMax) {
      throw storeErrors.create("RS_ERR_STORE_OVERLOADED", `${this.#pending.length} writes waiting for replicas`);
    }
    if (this.#storage.logLength() >= logEntriesMax) {
      throw storeErrors.create(
        "RS_ERR_STORE_OVERLOADED",
        `${this.#storage.logLength()} log entries not yet acknowledged by every replica (a peer is down for long)`,
      );
    }
  }

  #defaultTimeoutMs(level: Consistency): number {
    return level === "global" || level === "all" ? globalTimeoutMsDefault : localTimeoutMsDefault;
  }
}

function countOf(d: object): number {
  let n = 0;
  for (const _ in d) n++;
  return n;
}

/**
 * Whether two states of one key with equal digests (one the merge or compaction of the
 * other) are stored the same: merges and compaction only grow or shrink these parts, so
 * comparing the scalars and the sizes (and the retention marks of dedup ids) tells
 * without encoding.
 */
function sameRepresentation(a: KeyState, b: KeyState): boolean {
  if (a.cut !== b.cut || a.del !== b.del || a.exp !== b.exp || a.eh !== b.eh || a.t !== b.t) return false;
  if (countOf(a.ops) !== countOf(b.ops) || countOf(a.rm) !== countOf(b.rm) || countOf(a.done) !== countOf(b.done)) {
    return false;
  }
  let ra = 0;
  let rb = 0;
  for (const id in a.done) ra += a.done[id][1];
  for (const id in b.done) rb += b.done[id][1];
  return ra === rb;
}

/** Whether a state holds anything that compaction at a later stability point would change. */
function needsCompaction(s: KeyState): boolean {
  if (s.del > 0 || s.exp > 0 || countOf(s.rm) > 0 || countOf(s.done) > 0 || countOf(s.fdel) > 0) return true;
  // Superseded register writes (a register's older values, a map field's) are pruned at stability.
  let registers = 0;
  const fields = new Set<string>();
  for (const id in s.ops) {
    const op = s.ops[id];
    if (op.k === "add" || op.k === "fadd" || ((op.k === "set" || op.k === "fset") && op.v === undefined)) return true;
    if (op.k === "set" && ++registers > 1) return true;
    if (op.k === "fset") {
      if (fields.has(op.f ?? "")) return true;
      fields.add(op.f ?? "");
    }
  }
  return false;
}

export type { SessionToken };
