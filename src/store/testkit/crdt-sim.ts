// A test harness for the CRDT module (not used by production code): several nodes, each a
// coordinator and a replica of one key, with skewed wall clocks and their own HLCs. Ops are
// applied by coordinators, their deltas delivered in any order, retried at other nodes while
// not yet stable, and states compacted at stable points that respect the invariant: `stable`
// never passes an op that some replica has not received. A reference replica receives every
// delta at once and never compacts.
import type { Clock } from "../../core/index.ts";
import { isRedshirtError } from "../../core/index.ts";
import { applyMutation, compact, type KeyState, type Mutation, merge } from "../crdt/crdt.ts";
import { HybridClock, hlcFromWallMs } from "../crdt/hlc.ts";

/** One type; every type mixed (with TTLs); or counters, maps and sets whose ops nearly all set short TTLs or clear them. */
export type Mode = "reg" | "counter" | "set" | "map" | "mixed" | "ttl";

/** One step, as small integers that the harness interprets (so fast-check shrinks them well). */
export type Action =
  | { a: "mut"; node: number; pick: number; arg: number; ttl: number; retry: number }
  | { a: "deliver"; node: number; pick: number }
  | { a: "compact"; node: number }
  /** Anti-entropy: `node` merges the whole state of node `from` (folded, compacted or not). */
  | { a: "sync"; node: number; from: number }
  | { a: "tick"; ms: number };

export type Sent = {
  opId: string;
  m: Mutation;
  h: number;
  coord: number;
  delta: KeyState;
  /** For set removals (srem; an add removes nothing): the (opId, member) adds the coordinator had received. */
  observed: Set<string>;
};

export type Node = { clock: Clock; hlc: HybridClock; state: KeyState | undefined; got: Set<number>; pending: number[] };

export const startMs = 1_700_000_000_000;

export class Sim {
  nowMs = startMs;
  readonly nodes: Node[];
  readonly sent: Sent[] = [];
  reference: KeyState | undefined;
  stable = 0;
  readonly compactions: { before: KeyState; after: KeyState | undefined; nowH: number; stable: number }[] = [];
  readonly mode: Mode;
  #ops = 0;

  constructor(mode: Mode, skewsMs: number[]) {
    this.mode = mode;
    this.nodes = skewsMs.map((skew) => {
      const clock: Clock = {
        nowMs: () => this.nowMs + skew,
        monoMs: () => this.nowMs,
        setTimer: () => ({ cancel() {} }),
      };
      return { clock, hlc: new HybridClock(clock), state: undefined, got: new Set(), pending: [] };
    });
  }

  run(actions: readonly Action[]): void {
    for (const act of actions) this.step(act);
  }

  step(act: Action): void {
    switch (act.a) {
      case "tick":
        this.nowMs += act.ms;
        break;
      case "mut":
        this.mutate(act);
        break;
      case "deliver": {
        const node = this.nodes[act.node % this.nodes.length];
        if (node.pending.length > 0) this.deliver(node, node.pending[act.pick % node.pending.length]);
        break;
      }
      case "compact":
        this.compactNode(this.nodes[act.node % this.nodes.length]);
        break;
      case "sync":
        this.sync(this.nodes[act.node % this.nodes.length], this.nodes[act.from % this.nodes.length]);
        break;
    }
  }

  /**
   * Highest HLC at or below which every node holds every delta; no node will stamp at or below
   * it again (a node's next stamp is after its last and not before its wall clock, which is
   * what its heartbeats tell the others).
   */
  computeStable(): number {
    let s = Math.min(...this.nodes.map((n) => Math.max(n.hlc.last, hlcFromWallMs(n.clock.nowMs()) - 1)));
    for (const n of this.nodes) for (const i of n.pending) s = Math.min(s, this.sent[i].h - 1);
    if (s < this.stable) throw new Error(`stable went backwards: ${s} < ${this.stable}`);
    this.stable = s;
    return s;
  }

  mutate(act: Extract<Action, { a: "mut" }>): void {
    const coordIndex = act.node % this.nodes.length;
    const node = this.nodes[coordIndex];
    let opId: string;
    let m: Mutation;
    const stable = this.computeStable();
    // A timely retry: the client resends an op that is not stable yet, maybe to another node.
    const retryable = this.sent.filter((x) => x.h > stable);
    if (act.retry % 4 === 0 && retryable.length > 0) {
      const orig = retryable[(act.retry >> 2) % retryable.length];
      opId = orig.opId;
      m = orig.m;
    } else {
      opId = `o${++this.#ops}`;
      m = this.makeMutation(act, opId);
    }
    const observed = new Set<string>();
    if (m.kind === "srem") {
      for (const i of node.got) {
        const s = this.sent[i];
        if (s.m.kind === "sadd") for (const e of s.m.members) if (m.members.includes(e)) observed.add(`${s.opId}/${e}`);
      }
    }
    const h = node.hlc.now();
    let applied: ReturnType<typeof applyMutation>;
    try {
      applied = applyMutation(node.state, m, { opId, h, nowMs: node.clock.nowMs() });
    } catch (e) {
      if (isRedshirtError(e, "RS_ERR_STORE_WRONG_TYPE") || isRedshirtError(e, "RS_ERR_STORE_COUNTER_RANGE")) return;
      throw e;
    }
    // Within the dedup window a node that knows the op id (its delta, or a removal of its adds)
    // must recognise the retry, and one that does not must not.
    const seen = [...node.got].some(
      (i) =>
        this.sent[i].opId === opId || Object.keys(this.sent[i].delta.rm).some((x) => x.startsWith(`${opId}\u0000`)),
    );
    if (seen !== applied.duplicate)
      throw new Error(`op ${opId} at node ${coordIndex}: seen ${seen}, duplicate ${applied.duplicate}`);
    if (applied.duplicate) return;
    node.state = applied.state;
    const index = this.sent.length;
    this.sent.push({ opId, m, h, coord: coordIndex, delta: applied.delta, observed });
    node.got.add(index);
    for (const other of this.nodes) if (other !== node) other.pending.push(index);
    this.reference = merge(this.reference, applied.delta);
  }

  deliver(node: Node, index: number): void {
    node.pending.splice(node.pending.indexOf(index), 1);
    node.got.add(index);
    node.hlc.observe(this.sent[index].h);
    node.state = merge(node.state, this.sent[index].delta);
  }

  /** The node now holds everything the other held (its deltas stay pending: they merge again without effect). */
  sync(node: Node, from: Node): void {
    if (node === from) return;
    node.hlc.observe(from.hlc.last);
    node.state = merge(node.state, from.state);
    for (const i of from.got) node.got.add(i);
  }

  compactNode(node: Node, nowH?: number): void {
    const stable = this.computeStable();
    // Learning `stable` comes with every node's gossip, which carries (and makes us observe) its HLC.
    for (const n of this.nodes) node.hlc.observe(Math.max(n.hlc.last, hlcFromWallMs(n.clock.nowMs()) - 1));
    const h = nowH ?? node.hlc.now();
    if (!node.state) return;
    const before = node.state;
    node.state = compact(before, stable, h);
    this.compactions.push({ before, after: node.state, nowH: h, stable });
  }

  /** Delivers everything left, in an order given by `pick`, then lets stability catch up and compacts everywhere. */
  settle(pick: (n: number) => number, rounds = 3): void {
    for (const node of this.nodes)
      while (node.pending.length > 0) this.deliver(node, node.pending[pick(node.pending.length)]);
    for (let r = 0; r < rounds; r++) {
      this.nowMs += 1000;
      const nowH = Math.max(...this.nodes.map((n) => n.hlc.now()));
      for (const node of this.nodes) node.hlc.observe(nowH);
      for (const node of this.nodes) this.compactNode(node, nowH);
    }
  }

  makeMutation(act: Extract<Action, { a: "mut" }>, opId: string): Mutation {
    const mode: Mode =
      this.mode === "mixed"
        ? (["reg", "counter", "set", "map"] as const)[act.pick % 4]
        : this.mode === "ttl"
          ? (["counter", "map", "set"] as const)[act.pick % 3]
          : this.mode;
    const p = act.pick >> 2;
    const members = ["a", "b", "c"];
    const fields = ["x", "y", "z"];
    let m: Mutation;
    if (p % 8 === 0) m = { kind: "del" };
    else if (mode === "reg") m = { kind: "set", value: act.arg % 3 === 0 ? { n: act.arg, id: opId } : `v-${opId}` };
    else if (mode === "counter") m = { kind: "incr", by: (act.arg % 9) - 3 };
    else if (mode === "set") {
      const chosen = members.filter((_, i) => (act.arg >> i) & 1);
      const list = chosen.length > 0 ? chosen : [members[act.arg % 3]];
      m = p % 3 === 0 ? { kind: "srem", members: list } : { kind: "sadd", members: list };
    } else {
      const f = fields[act.arg % 3];
      const g = fields[(act.arg >> 2) % 3];
      if (p % 4 === 1)
        m = { kind: "mset", fields: { [f]: act.arg % 5 === 0 ? null : act.arg % 2 ? act.arg : `s${act.arg}` } };
      else if (p % 4 === 2) m = { kind: "mdel", fields: [f] };
      else m = { kind: "mincr", fields: { [f]: (act.arg % 7) - 2, [g]: 1 } };
    }
    if (this.mode === "mixed" && act.ttl % 3 === 0) m.ttlS = [0, 1, 2, 5, 30][(act.ttl >> 2) % 5];
    if (this.mode === "ttl" && act.ttl % 4 !== 0) m.ttlS = [0, 1, 2, 3][(act.ttl >> 2) % 4];
    return m;
  }
}
