// Sessions in the simulation: users who each write and read keys of their own, one request
// at a time, at any node of any site (a failover every request), carrying the session token
// from answer to answer. Every read that succeeds is checked at once against what the
// session wrote (read-your-writes, docs/store.md "Session tokens"): a replica that answers
// must have received the session's writes, so the value must reflect every acknowledged
// one. At the end the converged value of every session key is checked the same way.
//
// What a value must reflect, per key (the session is the key's only writer, so its
// requests are ordered; the token makes each coordinator stamp after the session's
// acknowledged writes):
// - register `set`/`del`: the outcome of the last acknowledged op, or of some
//   unacknowledged one (it may have applied, stamped anywhere between);
// - counter `incr`/`del`: at least the acknowledged increments after the last acknowledged
//   delete, leaving out those an unacknowledged delete may have cleared (one issued less
//   than the clocks' disagreement before them may carry a later stamp);
// - set `sadd` of fresh members: every acknowledged member;
// - map: field `a` as a register (`mset`, `mdel`), field `n` as a counter (`mincr`, `mdel`).
import type { Random } from "../../core/index.ts";
import type { Consistency } from "../../topology/index.ts";
import type { Mutation, ReadResult, SessionToken } from "../api-types.ts";
import { mergeSessionTokens } from "../replication/session-encoding.ts";
import type { SimCluster } from "./sim-cluster.ts";

type KeyKind = "reg" | "counter" | "set" | "map";
const keyKinds: readonly KeyKind[] = ["reg", "counter", "set", "map"];

type SessionOp = {
  readonly mutation: Mutation;
  readonly opId: string;
  /** True time the request was issued (the clock of the simulation, not of a node). */
  readonly issuedMs: number;
  readonly node: string;
  acked: boolean;
};

export type SessionStats = {
  reads: number;
  readsChecked: number;
  writes: number;
  writesAcked: number;
  /** Failed session reads by error code (what the level and the token allow). */
  readFailures: Record<string, number>;
};

export class SimSessions {
  readonly #cluster: SimCluster;
  readonly #random: Random;
  readonly #nodes: readonly string[];
  /** Two ops' stamps may be out of true-time order by this much (clock skew plus a forward hop). */
  readonly #disorderMs: number;
  readonly #sessions: { id: number; token: SessionToken | undefined; busy: boolean }[] = [];
  /** Per session key, its ops in the order the session issued them. */
  readonly #ops = new Map<string, SessionOp[]>();
  readonly problems: string[];
  readonly stats: SessionStats = { reads: 0, readsChecked: 0, writes: 0, writesAcked: 0, readFailures: {} };
  #seq = 0;

  constructor(cluster: SimCluster, random: Random, count: number, skewMsMax: number, problems: string[]) {
    this.#cluster = cluster;
    this.#random = random;
    this.#nodes = cluster.planet.storeNodes.map((n) => n.id);
    this.#disorderMs = 2 * skewMsMax + 100;
    this.problems = problems;
    for (let id = 0; id < count; id++) {
      this.#sessions.push({ id, token: undefined, busy: false });
      for (const kind of keyKinds) this.#ops.set(keyOf(id, kind), []);
    }
  }

  /** Every session key (for the end-of-run checks). */
  keys(): string[] {
    return [...this.#ops.keys()];
  }

  /** An idle session, if any, takes its next step: a write or a read of one of its keys. */
  step(inflight: Promise<void>[]): void {
    const idle = this.#sessions.filter((s) => !s.busy);
    if (idle.length === 0) return;
    const session = idle[this.#random.int(idle.length)];
    const live = this.#nodes.filter((n) => this.#cluster.isRunning(n));
    if (live.length === 0) return;
    const node = live[this.#random.int(live.length)];
    const kind = keyKinds[this.#random.int(keyKinds.length)];
    const key = keyOf(session.id, kind);
    session.busy = true;
    if (this.#random.next() < 0.55) {
      const mutation = this.#mutation(kind);
      const op: SessionOp = {
        mutation,
        opId: `s${session.id}-${this.#seq++}`,
        issuedMs: this.#cluster.clock.monoMs(),
        node,
        acked: false,
      };
      this.#ops.get(key)!.push(op);
      this.stats.writes++;
      const consistency: Consistency = this.#random.next() < 0.5 ? "local-one" : "local-quorum";
      inflight.push(
        this.#cluster
          .mutate(node, { key, mutation, opId: op.opId, consistency, token: session.token, timeoutMs: 1_000 }, 2_000)
          .then((r) => {
            session.busy = false;
            if (!r.ok) return;
            op.acked = true;
            this.stats.writesAcked++;
            session.token = mergeSessionTokens(session.token, r.value.token);
          }),
      );
      return;
    }
    this.stats.reads++;
    const consistency: Consistency = this.#random.next() < 0.6 ? "local-one" : "local-quorum";
    const readAtMs = this.#cluster.clock.monoMs();
    const request = { key, consistency, token: session.token, timeoutMs: 1_000 };
    inflight.push(
      this.#cluster.read(node, request, 2_000).then(async (first) => {
        let r = first;
        let at = node;
        // A node that is new or refilling refuses with a definite UNAVAILABLE ("try another
        // node"), as often as restarts come in this nemesis; a client then asks another
        // node, as the TypeScript client does, and that answer is checked too.
        const refused = !r.ok && (r.error as { code?: string }).code === "RS_ERR_STORE_UNAVAILABLE";
        const others = refused ? this.#nodes.filter((n) => n !== node && this.#cluster.isRunning(n)) : [];
        if (others.length > 0) {
          const code = "RS_ERR_STORE_UNAVAILABLE (asked another node)";
          this.stats.readFailures[code] = (this.stats.readFailures[code] ?? 0) + 1;
          at = others[this.#random.int(others.length)];
          r = await this.#cluster.read(at, request, 2_000);
        }
        session.busy = false;
        if (!r.ok) {
          // STALE, CONSISTENCY, a crash: what the level allows.
          const code = (r.error as { code?: string }).code ?? r.error.message;
          this.stats.readFailures[code] = (this.stats.readFailures[code] ?? 0) + 1;
          return;
        }
        this.stats.readsChecked++;
        const why = this.check(key, r.value.value);
        if (why)
          this.problems.push(
            `session ${session.id} read ${key} at ${at} (${consistency}, t=${readAtMs} ms) ${JSON.stringify(r.value.value.value)}: ${why}; the session's ops: ${this.describe(key)}`,
          );
      }),
    );
  }

  /** Why `value` does not reflect the session's writes of `key`, or undefined when it does. */
  check(key: string, value: ReadResult): string | undefined {
    const ops = this.#ops.get(key)!;
    const kind = key.slice(key.lastIndexOf("-") + 1) as KeyKind;
    if (kind === "reg") return checkRegister(ops, value.exists ? JSON.stringify(value.value) : undefined, (m) => m);
    if (kind === "counter") return this.#checkCounter(ops, value.exists ? (value.value as number) : 0, (m) => m);
    if (kind === "set") {
      const got = new Set(value.exists ? (value.value as string[]) : []);
      for (const op of ops) {
        const member = (op.mutation as { members: readonly string[] }).members[0];
        if (op.acked && !got.has(member)) return `acknowledged member ${member} missing`;
      }
      return undefined;
    }
    const fields = (value.exists ? value.value : {}) as Record<string, unknown>;
    const a = checkRegister(ops, fields.a === undefined ? undefined : JSON.stringify(fields.a), (m) => mapOp(m, "a"));
    if (a) return `field a: ${a}`;
    const n = this.#checkCounter(ops, (fields.n as number | undefined) ?? 0, (m) => mapOp(m, "n"));
    return n ? `field n: ${n}` : undefined;
  }

  /** The session's ops on a key, for a failure message. */
  describe(key: string): string {
    return this.#ops
      .get(key)!
      .map((o) => `${o.opId}@${o.node}/t=${o.issuedMs}:${JSON.stringify(o.mutation)}${o.acked ? "" : " (not acked)"}`)
      .join(", ");
  }

  /** Checks every session key's converged value (read at each live node, no token). */
  async checkFinal(live: readonly string[]): Promise<void> {
    for (const key of this.keys()) {
      for (const id of live) {
        const r = await this.#cluster.settle(this.#cluster.read(id, { key, consistency: "local-one" }));
        if (!r.ok) {
          this.problems.push(`final read of ${key} at ${id} failed: ${r.error.message}`);
          continue;
        }
        const why = this.check(key, r.value.value);
        if (why)
          this.problems.push(
            `final ${key} at ${id} ${JSON.stringify(r.value.value.value)}: ${why}; the session's ops: ${this.describe(key)}`,
          );
      }
    }
  }

  #checkCounter(
    ops: readonly SessionOp[],
    got: number,
    project: (m: Mutation) => Mutation | undefined,
  ): string | undefined {
    const relevant = ops.map((o) => ({ ...o, m: project(o.mutation) })).filter((o) => o.m !== undefined);
    let lastAckedDel = -1;
    relevant.forEach((o, i) => {
      if (o.m!.kind === "del" && o.acked) lastAckedDel = i;
    });
    const unackedDels = relevant.filter((o) => o.m!.kind === "del" && !o.acked);
    let low = 0;
    let high = 0;
    for (let i = 0; i < relevant.length; i++) {
      const o = relevant[i];
      if (o.m!.kind !== "incr") continue;
      const by = (o.m as { by: number }).by;
      high += by;
      if (i < lastAckedDel || !o.acked) continue;
      if (unackedDels.some((d) => o.issuedMs - d.issuedMs <= this.#disorderMs)) continue;
      low += by;
    }
    if (got < low) return `counter ${got} below the session's acknowledged ${low}`;
    if (got > high) return `counter ${got} above everything the session attempted (${high})`;
    return undefined;
  }

  #mutation(kind: KeyKind): Mutation {
    const u = this.#seq;
    const del = this.#random.next() < 0.15;
    // Now and then a long TTL: it must neither expire early nor disturb anything else.
    const ttl = this.#random.next() < 0.2 ? { ttlS: 3_600 } : {};
    if (kind === "reg") return del ? { kind: "del" } : { kind: "set", value: { u }, ...ttl };
    if (kind === "counter") return del ? { kind: "del" } : { kind: "incr", by: 1 + this.#random.int(4), ...ttl };
    if (kind === "set") return { kind: "sadd", members: [`e${u}`], ...ttl };
    const roll = this.#random.int(5);
    if (roll === 0) return { kind: "mdel", fields: [this.#random.next() < 0.5 ? "a" : "n"] };
    if (roll < 3) return { kind: "mset", fields: { a: { u } }, ...ttl };
    return { kind: "mincr", fields: { n: 1 + this.#random.int(4) }, ...ttl };
  }
}

const keyOf = (session: number, kind: KeyKind): string => `sess${session}-${kind}`;

/** A map op seen as an op on one field (a register for `a`, a counter for `n`). */
function mapOp(m: Mutation, field: "a" | "n"): Mutation | undefined {
  if (m.kind === "mdel") return m.fields.includes(field) ? { kind: "del" } : undefined;
  if (m.kind === "mset" && field in m.fields) return { kind: "set", value: m.fields[field] };
  if (m.kind === "mincr" && field in m.fields) return { kind: "incr", by: m.fields[field] };
  return undefined;
}

function checkRegister(
  ops: readonly SessionOp[],
  got: string | undefined,
  project: (m: Mutation) => Mutation | undefined,
): string | undefined {
  const relevant = ops.map((o) => ({ acked: o.acked, m: project(o.mutation) })).filter((o) => o.m !== undefined);
  const outcome = (m: Mutation) => (m.kind === "set" ? JSON.stringify(m.value) : undefined);
  const lastAcked = relevant.findLast((o) => o.acked);
  const allowed = new Set<string | undefined>([lastAcked ? outcome(lastAcked.m!) : undefined]);
  for (const o of relevant) if (!o.acked) allowed.add(outcome(o.m!));
  if (allowed.has(got)) return undefined;
  return `expected ${lastAcked ? (outcome(lastAcked.m!) ?? "absent (deleted)") : "absent"}${allowed.size > 1 ? " or the outcome of an unacknowledged write" : ""}, got ${got ?? "absent"}`;
}
