// The simulation's checker for the keys the main workload writes: what every converged
// replica must hold given what was acknowledged and what was merely attempted. (Session keys
// are checked by sim-sessions.ts.) Key families, by prefix:
// - c, s, r, cart, d: one op kind each (incr, sadd, set, mincr; d: incr then one delete
//   issued once every earlier op settled, carrying the session tokens of the acknowledged
//   ones, so that it is stamped after them: see checkDeleted);
// - xs, xc, xm: written from every site at once, deletes and re-adds of the same element,
//   key or field concurrent with each other;
// - tx: increments with a TTL of seconds (long expired at the end); tl: increments with a
//   TTL of an hour (must survive).
import type { Mutation, ReadResult, SessionToken } from "../api-types.ts";

export type Attempt = {
  opId: string;
  key: string;
  mutation: Mutation;
  acked: boolean;
  settled: boolean;
  node: string;
  level: "local-one" | "local-quorum" | "global" | "all";
  /** True time the attempt was issued, and when it settled. */
  issuedMs: number;
  settledMs: number;
  /** For a write with a TTL: true wall time by which its expiry has passed on every clock. */
  expiresByMs: number;
  /** The session token sent with the attempt (a d-family delete: those of the key's acknowledged writes). */
  sentToken?: SessionToken;
  /** The session token of the answer, once acknowledged. */
  token?: SessionToken;
};

export const sharedSetMembers = ["a", "b", "c", "d"] as const;

/** The family of a workload key (its prefix). */
export function familyOf(key: string): string {
  return /^[a-z]+/.exec(key)?.[0] ?? key;
}

export function checkAcknowledged(
  history: readonly Attempt[],
  values: ReadonlyMap<string, ReadResult>,
  deleted: ReadonlySet<string>,
  problems: string[],
): void {
  const byKey = new Map<string, Attempt[]>();
  for (const h of history) byKey.set(h.key, [...(byKey.get(h.key) ?? []), h]);
  for (const [key, ops] of byKey) {
    const v = values.get(key);
    const family = familyOf(key);
    if (family === "xs") {
      checkSharedSet(key, ops, v, problems);
      continue;
    }
    if (family === "xc" || family === "xm" || family === "tx") {
      checkBounds(key, ops, v, problems);
      continue;
    }
    const ackedDelete = ops.some((o) => o.mutation.kind === "del" && o.acked);
    if (deleted.has(key) && ackedDelete) {
      checkDeleted(key, ops, v, problems);
      continue;
    }
    if (deleted.has(key)) continue; // an unacknowledged delete may or may not have applied
    const all = distinctOps(ops);
    const kind = ops[0].mutation.kind;
    if (kind === "incr") {
      const low = all.filter((o) => o.anyAck).reduce((s, o) => s + (o.mutation as { by: number }).by, 0);
      const high = all.reduce((s, o) => s + (o.mutation as { by: number }).by, 0);
      const got = v?.exists ? (v.value as number) : 0;
      if (got < low || got > high) problems.push(`${key}: counter ${got} outside [acked ${low}, attempted ${high}]`);
    } else if (kind === "sadd") {
      const got = new Set(v?.exists ? (v.value as string[]) : []);
      for (const o of all) {
        const m = (o.mutation as { members: readonly string[] }).members[0];
        if (o.anyAck && !got.has(m)) problems.push(`${key}: acknowledged member ${m} lost`);
      }
      const attempted = new Set(all.map((o) => (o.mutation as { members: readonly string[] }).members[0]));
      for (const m of got) if (!attempted.has(m)) problems.push(`${key}: member ${m} never written`);
    } else if (kind === "set") {
      const attempted = all.map((o) => JSON.stringify((o.mutation as { value: unknown }).value));
      if (all.some((o) => o.anyAck) && !v?.exists) problems.push(`${key}: register lost`);
      if (v?.exists && !attempted.includes(JSON.stringify(v.value))) problems.push(`${key}: value never written`);
    } else if (kind === "mincr") {
      const low = new Map<string, number>();
      const high = new Map<string, number>();
      for (const o of all) {
        for (const [f, d] of Object.entries((o.mutation as { fields: Record<string, number> }).fields)) {
          high.set(f, (high.get(f) ?? 0) + d);
          if (o.anyAck) low.set(f, (low.get(f) ?? 0) + d);
        }
      }
      const got = (v?.exists ? v.value : {}) as Record<string, number>;
      for (const [f, h] of high) {
        const g = got[f] ?? 0;
        const l = low.get(f) ?? 0;
        if (g < l || g > h) problems.push(`${key}.${f}: ${g} outside [acked ${l}, attempted ${h}]`);
      }
    }
  }
}

/**
 * A d key after its acknowledged delete. A delete clears every write it was stamped after
 * (docs/store.md): being issued after a write was answered does not make it so, as the
 * delete's coordinator may not have heard of that write yet while the HLCs sit in the same
 * millisecond (seed 1009: an increment acknowledged in New York, the delete 36 ms later in
 * London stamped 20 ticks before it). The delete carries the session tokens of the key's
 * acknowledged writes, so it is stamped after each of them: none of those may be left. An
 * op id never acknowledged has no token to order it; it may have been applied, stamped
 * after the delete (concurrent with it), and then counts as a new value: at most those.
 */
export function checkDeleted(
  key: string,
  ops: readonly Attempt[],
  v: ReadResult | undefined,
  problems: string[],
): void {
  if (!v?.exists) return;
  const unordered = distinctOps(ops).filter((o) => !o.anyAck && o.mutation.kind === "incr");
  const high = unordered.reduce((s, o) => s + (o.mutation as { by: number }).by, 0);
  const got = v.value;
  if (typeof got !== "number" || got < 1 || got > high)
    problems.push(
      `${key}: deleted (acknowledged) but reads ${JSON.stringify(got)}` +
        ` (only op ids never acknowledged may survive it: ${unordered.length ? unordered.map((o) => o.opId).join(", ") : "none"})`,
    );
}

/** One entry per op id: any attempt acknowledged counts for all of them. */
export function distinctOps(ops: readonly Attempt[]): (Attempt & { anyAck: boolean })[] {
  const distinct = new Map<string, Attempt & { anyAck: boolean }>();
  for (const o of ops) {
    const d = distinct.get(o.opId);
    distinct.set(o.opId, { ...o, anyAck: (d?.anyAck ?? false) || o.acked });
  }
  return [...distinct.values()];
}

/**
 * A shared set: add-wins. A remove takes away only the adds its coordinator had seen, so an
 * acknowledged add first issued after every remove of its element had settled must be
 * there, whatever the clocks say (and however its op id, or older ones, were retried); and
 * nothing outside the pool ever is.
 */
function checkSharedSet(key: string, ops: readonly Attempt[], v: ReadResult | undefined, problems: string[]): void {
  const got = new Set(v?.exists ? (v.value as string[]) : []);
  for (const m of got) {
    if (!(sharedSetMembers as readonly string[]).includes(m)) problems.push(`${key}: member ${m} never written`);
  }
  for (const member of sharedSetMembers) {
    const removes = ops.filter((o) => o.mutation.kind === "srem" && o.mutation.members.includes(member));
    const lastRemoveSettledMs = Math.max(
      -1,
      ...removes.map((o) => (o.settled ? o.settledMs : Number.POSITIVE_INFINITY)),
    );
    // An op id is one add, issued when its first attempt was: a retry adds nothing new (a
    // remove that saw the first attempt took it away for good).
    const firstIssuedMs = new Map<string, number>();
    for (const o of ops) firstIssuedMs.set(o.opId, Math.min(firstIssuedMs.get(o.opId) ?? o.issuedMs, o.issuedMs));
    const mustHave = ops.find(
      (o) =>
        o.acked &&
        o.mutation.kind === "sadd" &&
        o.mutation.members.includes(member) &&
        firstIssuedMs.get(o.opId)! > lastRemoveSettledMs,
    );
    if (mustHave && !got.has(member)) {
      const story = ops
        .filter((o) => "members" in o.mutation && o.mutation.members.includes(member))
        .map(
          (o) =>
            `${o.mutation.kind} ${o.opId}@${o.node} t=${o.issuedMs}..${o.settled ? o.settledMs : "?"}${o.acked ? "" : " (not acked)"}`,
        );
      problems.push(
        `${key}: ${member} added (acknowledged, ${mustHave.opId}) after every remove of it, but missing; its ops: ${story.join(", ")}`,
      );
    }
  }
}

/** Counters and map counter fields under concurrent deletes: never more than was attempted, never negative. */
function checkBounds(key: string, ops: readonly Attempt[], v: ReadResult | undefined, problems: string[]): void {
  const high = new Map<string, number>();
  for (const o of distinctOps(ops)) {
    const m = o.mutation;
    if (m.kind === "incr") high.set("", (high.get("") ?? 0) + m.by);
    if (m.kind === "mincr") for (const [f, d] of Object.entries(m.fields)) high.set(f, (high.get(f) ?? 0) + d);
  }
  if (!v?.exists) return;
  if (typeof v.value === "number") {
    if (v.value < 0 || v.value > (high.get("") ?? 0))
      problems.push(`${key}: counter ${v.value} outside [0, attempted ${high.get("") ?? 0}]`);
    return;
  }
  for (const [f, g] of Object.entries(v.value as Record<string, unknown>)) {
    if (f === "p" || f === "q") continue; // register fields
    if (typeof g !== "number" || g < 0 || g > (high.get(f) ?? 0))
      problems.push(`${key}.${f}: ${JSON.stringify(g)} outside [0, attempted ${high.get(f) ?? 0}]`);
  }
}
