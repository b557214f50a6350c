// A map from names to quantities that can be both added to and set — a shopping cart — as
// one store map, so every change is one store op with an op id, retried safely anywhere.
//
// Why not a plain counter field: "set to 3" on a counter is read-then-add-the-difference,
// and a retry that reads after the first attempt applied would add a different difference
// under the same op id. Why not a plain register field: two adds would read-modify-write
// and a retry elsewhere could count twice or not at all.
//
// The design: each name has a register `q.<name>` = {e: epoch, q: base quantity}, written
// by a set, and counters `n.<name>.<epoch>` that adds increment. The quantity is the base
// plus the counter of the register's current epoch. A set starts a new epoch (derived from
// its op id, so its retry writes the very same register value), which makes every add made
// before it irrelevant — including an add in doubt that lands later. An add increments the
// counter of the epoch it read; its retry reads the same epoch (the user's session token
// covers the set that made it), so it increments the same field with the same op id, and
// the store keeps one op per id even when the first attempt and the retry reached different
// replicas. Notes (`x.<name>`) are registers written in the same op as a set, e.g. the
// order a checkout made, so whoever sees the cart emptied also sees why.
import { createHash } from "node:crypto";
import type { StoreClient, StoreWriteOptions } from "../store/index.ts";

export type CountsValue = {
  /** Name -> quantity; names at 0 are absent. */
  readonly counts: Record<string, number>;
  readonly notes: Record<string, unknown>;
};

type Base = { e: string; q: number };
const epochZero = "0";

/** Reads a counts map's stored fields. */
export function decodeCounts(fields: Record<string, unknown> | undefined): CountsValue {
  const counts: Record<string, number> = {};
  const notes: Record<string, unknown> = {};
  if (!fields) return { counts, notes };
  const bases = new Map<string, Base>();
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith("q.")) {
      const v = value as Partial<Base> | null;
      if (v && typeof v.e === "string" && typeof v.q === "number") bases.set(field.slice(2), { e: v.e, q: v.q });
    } else if (field.startsWith("x.")) notes[field.slice(2)] = value;
  }
  const names = new Set<string>(bases.keys());
  for (const field of Object.keys(fields)) {
    if (!field.startsWith("n.")) continue;
    const dot = field.lastIndexOf(".");
    if (dot > 2) names.add(field.slice(2, dot));
  }
  for (const name of names) {
    const base = bases.get(name) ?? { e: epochZero, q: 0 };
    const added = fields[`n.${name}.${base.e}`];
    const q = base.q + (typeof added === "number" ? added : 0);
    if (q !== 0) counts[name] = q;
  }
  return { counts, notes };
}

function epochOf(fields: Record<string, unknown> | undefined, name: string): string {
  const v = fields?.[`q.${name}`] as Partial<Base> | undefined;
  return typeof v?.e === "string" ? v.e : epochZero;
}

function epochFor(opId: string, name: string): string {
  return createHash("sha256").update(`${opId}\u0000${name}`).digest("base64url").slice(0, 12);
}

async function readFields(view: StoreClient, key: string): Promise<Record<string, unknown> | undefined> {
  const got = await view.get(key);
  return got.exists ? (got.value as Record<string, unknown>) : undefined;
}

/** Typed access to a counts map kept under one store key; every call reads with the view's session token. */
export type CountsMap = {
  read(view: StoreClient): Promise<CountsValue>;
  /** Adds `by` (any integer) to `name`; returns the map afterwards. */
  add(view: StoreClient, name: string, by: number, opId: string): Promise<CountsValue>;
  /** Sets each name's quantity (0 removes) and writes the notes, as one op; returns the map afterwards. */
  set(
    view: StoreClient,
    quantities: Readonly<Record<string, number>>,
    opId: string,
    notes?: Readonly<Record<string, unknown>>,
  ): Promise<CountsValue>;
  /**
   * Removes what no longer counts: counters of epochs a set replaced (an epoch never comes
   * back) and the notes not named in `keepNotes`. One op; a no-op when nothing is stale.
   * `options` default to the map's; a weaker level is fine (losing a compaction loses nothing).
   */
  compact(view: StoreClient, opId: string, keepNotes: readonly string[], options?: StoreWriteOptions): Promise<void>;
};

/** The fields of a counts map that no longer count (see CountsMap.compact). */
export function staleCountsFields(fields: Record<string, unknown>, keepNotes: readonly string[]): string[] {
  const stale: string[] = [];
  for (const field of Object.keys(fields)) {
    if (field.startsWith("x.") && !keepNotes.includes(field.slice(2))) stale.push(field);
    if (!field.startsWith("n.")) continue;
    const dot = field.lastIndexOf(".");
    if (dot <= 2) continue;
    if (field.slice(dot + 1) !== epochOf(fields, field.slice(2, dot))) stale.push(field);
  }
  return stale.sort();
}

export function countsMap(key: string, options: StoreWriteOptions = {}): CountsMap {
  const read = async (view: StoreClient) => decodeCounts(await readFields(view, key));
  return {
    read,
    async add(view, name, by, opId) {
      const epoch = epochOf(await readFields(view, key), name);
      await view.mutate(key, { kind: "mincr", fields: { [`n.${name}.${epoch}`]: by } }, { ...options, opId });
      return read(view);
    },
    async set(view, quantities, opId, notes = {}) {
      const fields: Record<string, unknown> = {};
      // Sorted, so a retry sends the fields in the same order (each field's op id is derived from its index).
      for (const name of Object.keys(quantities).sort()) {
        fields[`q.${name}`] = { e: epochFor(opId, name), q: quantities[name] };
      }
      for (const name of Object.keys(notes).sort()) fields[`x.${name}`] = notes[name];
      if (Object.keys(fields).length === 0) return read(view);
      await view.mutate(key, { kind: "mset", fields }, { ...options, opId });
      return read(view);
    },
    async compact(view, opId, keepNotes, compactOptions = options) {
      const fields = await readFields(view, key);
      const stale = fields ? staleCountsFields(fields, keepNotes) : [];
      if (stale.length > 0) await view.mutate(key, { kind: "mdel", fields: stale }, { ...compactOptions, opId });
    },
  };
}
