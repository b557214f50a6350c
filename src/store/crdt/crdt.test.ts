import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError } from "../../core/index.ts";
import { applyMutation, compact, digest, type KeyState, type Mutation, merge, read } from "./crdt.ts";
import { hlcFromWallMs } from "./hlc.ts";

const t0 = 1_700_000_000_000;
let seq = 0;

/** Applies a mutation at wall time `ms` (the HLC derived from it, plus a counter for uniqueness). */
function apply(s: KeyState | undefined, m: Mutation, ms: number, opId = `op${++seq}`) {
  return applyMutation(s, m, { opId, h: hlcFromWallMs(ms) + (seq % 1000), nowMs: ms });
}

function value(s: KeyState | undefined, ms = t0 + 1_000_000): unknown {
  const r = read(s, ms);
  return r.exists ? r.value : undefined;
}

function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => isRedshirtError(e, code));
}

test("crdt - a register keeps the latest write, a delete clears it and a later write revives it", () => {
  let s = apply(undefined, { kind: "set", value: { b: 1, a: [1, "x"] } }, t0).state;
  s = apply(s, { kind: "set", value: "second" }, t0 + 10).state;
  assert.equal(value(s), "second");
  const stale = apply(undefined, { kind: "set", value: "older" }, t0 + 5);
  assert.equal(value(merge(s, stale.delta)), "second", "an older concurrent write loses");
  s = apply(s, { kind: "del" }, t0 + 20).state;
  assert.deepEqual(read(s, t0 + 30), { exists: false });
  assert.equal(value(merge(s, stale.delta)), undefined, "an older write never resurrects after a delete");
  s = apply(s, { kind: "set", value: 7 }, t0 + 40).state;
  assert.equal(value(s), 7);
});

test("crdt - a counter sums increments once per op id, also when retried at another coordinator", () => {
  const a = apply(undefined, { kind: "incr", by: 5 }, t0, "i1");
  const b = apply(a.state, { kind: "incr", by: -2 }, t0 + 1, "i2");
  assert.equal(value(b.state), 3);
  const again = apply(b.state, { kind: "incr", by: -2 }, t0 + 2, "i2");
  assert.equal(again.duplicate, true);
  assert.equal(again.state, b.state);
  assert.equal(value(merge(b.state, again.delta)), 3);
  // The retry reaches a coordinator that has not seen i2 yet: it gets a second HLC.
  const retry = apply(a.state, { kind: "incr", by: -2 }, t0 + 50, "i2");
  assert.equal(retry.duplicate, false);
  const merged = merge(b.state, retry.delta);
  assert.equal(value(merged), 3);
  const compacted = compact(merged as KeyState, hlcFromWallMs(t0 + 100), hlcFromWallMs(t0 + 200));
  assert.equal(value(compacted), 3);
  assert.equal(value(merge(compacted, retry.delta)), 3, "a late retry after compaction still counts once");
});

test("crdt - a counter refuses to leave the safe integers, and other types refuse a live key", () => {
  const s = apply(undefined, { kind: "incr", by: Number.MAX_SAFE_INTEGER - 1 }, t0).state;
  throwsCode(() => apply(s, { kind: "incr", by: 2 }, t0 + 1), "RS_ERR_STORE_COUNTER_RANGE");
  throwsCode(() => apply(s, { kind: "set", value: 1 }, t0 + 1), "RS_ERR_STORE_WRONG_TYPE");
  throwsCode(() => apply(s, { kind: "sadd", members: ["x"] }, t0 + 1), "RS_ERR_STORE_WRONG_TYPE");
  const gone = apply(s, { kind: "del" }, t0 + 2).state;
  assert.deepEqual(
    value(apply(gone, { kind: "sadd", members: ["x"] }, t0 + 3).state),
    ["x"],
    "a deleted key takes a new type",
  );
});

test("crdt - a set is add-wins: a remove takes only the adds it observed", () => {
  const a1Id = "add-x-y";
  const a1 = apply(undefined, { kind: "sadd", members: ["x", "y"] }, t0, a1Id);
  const atB = merge(undefined, a1.delta);
  const removeAtB = apply(atB, { kind: "srem", members: ["x"] }, t0 + 10);
  const addAgainAtA = apply(a1.state, { kind: "sadd", members: ["x"] }, t0 + 5); // concurrent, not seen by B
  const one = merge(merge(a1.state, addAgainAtA.delta), removeAtB.delta);
  const two = merge(merge(atB, removeAtB.delta), addAgainAtA.delta);
  assert.deepEqual(value(one), ["x", "y"]);
  assert.deepEqual(value(two), ["x", "y"]);
  assert.equal(digest(one), digest(two));
  const retried = apply(removeAtB.state, { kind: "sadd", members: ["x", "y"] }, t0 + 15, a1Id);
  assert.equal(retried.duplicate, true, "a retried add whose element was removed since is still a duplicate");
  const removeAll = apply(one, { kind: "srem", members: ["x", "y"] }, t0 + 20);
  assert.deepEqual(read(removeAll.state, t0 + 30), { exists: false });
  assert.deepEqual(value(merge(removeAll.state, a1.delta)), undefined, "an observed add stays removed");
});

test("crdt - a cart is a map of counters: add items, remove one, concurrent increments after the removal survive", () => {
  let cart = apply(undefined, { kind: "mincr", fields: { apple: 2 } }, t0).state;
  cart = apply(cart, { kind: "mincr", fields: { apple: 1, pear: 1 } }, t0 + 1).state;
  assert.deepEqual(value(cart), { apple: 3, pear: 1 });
  const elsewhere = merge(undefined, cart) as KeyState;
  const removeApple = apply(cart, { kind: "mdel", fields: ["apple"] }, t0 + 10);
  const before = apply(elsewhere, { kind: "mincr", fields: { apple: 5 } }, t0 + 5); // stamped before the removal
  const after = apply(elsewhere, { kind: "mincr", fields: { apple: 1 } }, t0 + 20); // stamped after it
  assert.deepEqual(value(merge(merge(removeApple.state, before.delta), after.delta)), { apple: 1, pear: 1 });
  assert.deepEqual(value(merge(merge(after.state, before.delta), removeApple.delta)), { apple: 1, pear: 1 });
  const cleared = apply(removeApple.state, { kind: "mset", fields: { pear: null } }, t0 + 30).state;
  assert.deepEqual(read(cleared, t0 + 40), { exists: false });
});

test("crdt - a map field write resets a counter field and later increments add to it", () => {
  let s = apply(undefined, { kind: "mincr", fields: { n: 4 } }, t0).state;
  s = apply(s, { kind: "mset", fields: { n: 10, name: "ann" } }, t0 + 1).state;
  s = apply(s, { kind: "mincr", fields: { n: 2 } }, t0 + 2).state;
  assert.deepEqual(value(s), { n: 12, name: "ann" });
  throwsCode(() => apply(s, { kind: "mincr", fields: { name: 1 } }, t0 + 3), "RS_ERR_STORE_WRONG_TYPE");
  const c = compact(s, hlcFromWallMs(t0 + 100), hlcFromWallMs(t0 + 200));
  assert.deepEqual(value(c), { n: 12, name: "ann" });
  assert.deepEqual(value(apply(c, { kind: "mincr", fields: { n: 1 } }, t0 + 300).state), { n: 13, name: "ann" });
});

test("crdt - a key with a TTL reads absent after it and a later write revives only itself", () => {
  let s = apply(undefined, { kind: "sadd", members: ["a"], ttlS: 10 }, t0).state;
  assert.deepEqual(value(s, t0 + 9_999), ["a"]);
  assert.deepEqual(read(s, t0 + 10_000), { exists: false });
  const expired = s;
  s = apply(expired, { kind: "sadd", members: ["b"] }, t0 + 11_000).state;
  assert.deepEqual(value(s, t0 + 11_001), ["b"]);
  // A write with a new TTL replaces the expiry; what expired before it stays expired.
  s = apply(expired, { kind: "sadd", members: ["c"], ttlS: 60 }, t0 + 11_000).state;
  assert.deepEqual(value(s, t0 + 11_001), ["c"]);
  let r = apply(undefined, { kind: "set", value: 1, ttlS: 10 }, t0).state;
  r = apply(r, { kind: "set", value: 2, ttlS: 10 }, t0 + 5_000).state; // refresh
  assert.equal(value(r, t0 + 12_000), 2);
  r = apply(r, { kind: "set", value: 3, ttlS: 0 }, t0 + 6_000).state; // no expiry any more
  assert.equal(value(r, t0 + 100_000_000), 3);
});

test("crdt - compaction drops a deleted key once the delete and its dedup ids are stable", () => {
  let s = apply(undefined, { kind: "incr", by: 1 }, t0).state;
  s = apply(s, { kind: "del" }, t0 + 10).state;
  const early = compact(s, hlcFromWallMs(t0 + 5), hlcFromWallMs(t0 + 20));
  assert.ok(early, "the delete is not stable yet");
  const learned = compact(early, hlcFromWallMs(t0 + 15), hlcFromWallMs(t0 + 30));
  assert.ok(learned, "dedup ids wait until stability passes the time they were learned");
  assert.equal(compact(learned, hlcFromWallMs(t0 + 31), hlcFromWallMs(t0 + 40)), undefined);
});

test("crdt - concurrent writes of different types converge on the latest type", () => {
  const reg = apply(undefined, { kind: "set", value: "s" }, t0);
  const counter = apply(undefined, { kind: "incr", by: 1 }, t0 + 1);
  const one = merge(reg.state, counter.delta);
  const two = merge(counter.state, reg.delta);
  assert.deepEqual(read(one, t0 + 2), { exists: true, type: "counter", value: 1 });
  assert.deepEqual(read(two, t0 + 2), read(one, t0 + 2));
  assert.equal(digest(one), digest(two));
});

test("crdt - bad mutations are refused with a code that names the field", () => {
  const bad = (m: unknown, code = "RS_ERR_STORE_BAD_REQUEST") =>
    throwsCode(() => apply(undefined, m as Mutation, t0), code);
  bad({ kind: "nope" });
  bad({ kind: "incr", by: 1.5 });
  bad({ kind: "sadd", members: [] });
  bad({ kind: "sadd", members: ["x".repeat(1025)] });
  bad({ kind: "set", value: Number.NaN });
  bad({ kind: "set", value: "x", ttlS: -1 });
  bad({ kind: "mincr", fields: { a: "1" } });
  bad({ kind: "set", value: "x".repeat(1024 * 1024 + 1) }, "RS_ERR_STORE_VALUE_TOO_LARGE");
  throwsCode(
    () => applyMutation(undefined, { kind: "del" }, { opId: "a\u0000b", h: 1, nowMs: 0 }),
    "RS_ERR_STORE_BAD_REQUEST",
  );
});

test("crdt - field names and op ids may be any string, __proto__ included", () => {
  const s = applyMutation(
    undefined,
    { kind: "mset", fields: JSON.parse('{"__proto__": 1, "x": 2}') },
    {
      opId: "__proto__",
      h: hlcFromWallMs(t0),
      nowMs: t0,
    },
  );
  const v = value(s.state) as Record<string, unknown>;
  assert.deepEqual(Object.keys(v), ["__proto__", "x"]);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal(
    applyMutation(
      s.state,
      { kind: "mset", fields: { y: 1 } },
      { opId: "__proto__", h: hlcFromWallMs(t0 + 1), nowMs: t0 },
    ).duplicate,
    true,
  );
});

test("crdt - an expiry that passed before anyone replaced it happened, whoever saw it", () => {
  // A sets a 1 s TTL; B, which has not seen it, writes with its own TTL after it passed.
  const a = apply(undefined, { kind: "sadd", members: ["old"], ttlS: 1 }, t0, "a");
  const b = apply(undefined, { kind: "sadd", members: ["new"], ttlS: 60 }, t0 + 5_000, "b");
  for (const both of [merge(a.state, b.delta), merge(b.state, a.delta)]) {
    assert.deepEqual(value(both, t0 + 6_000), ["new"]);
  }
  // C extended A's TTL before it passed: then it never passed.
  const c = apply(a.state, { kind: "sadd", members: ["mid"], ttlS: 10 }, t0 + 500, "c");
  const all = merge(merge(b.state, a.delta), c.delta);
  assert.deepEqual(value(all, t0 + 6_000), ["mid", "new", "old"]);
  // A replica that compacted before C's op arrived must not have folded A's expiry yet.
  const early = compact(merge(a.state, b.delta) as KeyState, hlcFromWallMs(t0 + 400), hlcFromWallMs(t0 + 5_100));
  assert.deepEqual(value(merge(early, c.delta), t0 + 6_000), ["mid", "new", "old"]);
  // Once stability passed A's expiry instant every op that could have replaced it is known.
  const late = compact(all as KeyState, hlcFromWallMs(t0 + 5_500), hlcFromWallMs(t0 + 5_600));
  assert.deepEqual(value(late, t0 + 6_000), ["mid", "new", "old"]);
});

test("crdt - a counter never folds across the instant of an expiry that is not decided yet", () => {
  const a = apply(undefined, { kind: "incr", by: 5, ttlS: 1 }, t0, "a");
  // Stability passed the op but not the expiry instant: folding stops before it.
  const c = compact(a.state, hlcFromWallMs(t0 + 500), hlcFromWallMs(t0 + 600)) as KeyState;
  const later = apply(c, { kind: "incr", by: 1 }, t0 + 3_000, "b");
  assert.equal(value(later.state, t0 + 3_001), 1, "the expired increment stays dead");
  const settled = compact(later.state, hlcFromWallMs(t0 + 3_500), hlcFromWallMs(t0 + 3_600));
  assert.equal(value(settled, t0 + 3_601), 1);
  assert.equal(value(merge(settled, a.delta), t0 + 3_601), 1);
});

test("crdt - an expiry replaced after it passed by a node that had not seen it still happened everywhere", () => {
  // The scenario the property tests found: A increments with a 1 s TTL (o1), then after it
  // passed applies o2 (no expiry). The client retries o2 at B, which has not seen o1.
  const o1 = apply(undefined, { kind: "incr", by: -3, ttlS: 1 }, t0, "o1");
  const o2AtA = apply(o1.state, { kind: "incr", by: -3, ttlS: 0 }, t0 + 1_001, "o2");
  const o2AtB = apply(undefined, { kind: "incr", by: -3, ttlS: 0 }, t0 + 1_001, "o2");
  // B receives o1; stability passes it while A's o2 is still on its way; B compacts.
  const atB = merge(o2AtB.state, o1.delta) as KeyState;
  const stable = o2AtA.delta.th - 1;
  const compacted = compact(atB, stable, stable + 2) as KeyState;
  for (const s of [merge(compacted, o2AtA.delta), merge(atB, o2AtA.delta), o2AtA.state, merge(o2AtB.state, o1.delta)]) {
    assert.equal(value(s), -3, "o1 died with its expiry");
  }
});

test("crdt - expiry marks go once decided: a TTL refreshed on every write keeps few of them", () => {
  const marks = (s: KeyState | undefined) => Object.keys(s?.done ?? {}).filter((id) => id.startsWith("\u0000")).length;
  let s: KeyState | undefined;
  for (let i = 0; i < 50; i++) {
    s = apply(s, { kind: "mincr", fields: { hits: 1 }, ttlS: 1800 }, t0 + i * 1000, `w${i}`).state;
    // Stability trails the writes by about 3 s.
    s = compact(s, hlcFromWallMs(t0 + i * 1000 - 3_000), hlcFromWallMs(t0 + i * 1000)) as KeyState;
  }
  assert.ok(marks(s) <= 5, `${marks(s)} marks kept`);
  assert.deepEqual(value(s, t0 + 60_000), { hits: 50 });
  assert.deepEqual(read(s, t0 + 49_000 + 1_800_000), { exists: false });
  const gone = compact(s as KeyState, hlcFromWallMs(t0 + 49_000 + 1_800_000), hlcFromWallMs(t0 + 49_000 + 1_800_000));
  assert.equal(compact(gone as KeyState, hlcFromWallMs(t0 + 4_000_000), hlcFromWallMs(t0 + 4_000_000)), undefined);
});

test("crdt - strings that are not valid Unicode (lone surrogates) are refused, so every replica stores the same bytes", () => {
  const ctx = { opId: "u1", h: 1_000_000, nowMs: 1_000 };
  for (const m of [
    { kind: "sadd", members: ["ok", "\ud800"] },
    { kind: "set", value: { nested: ["\udfff"] } },
    { kind: "set", value: { "bad\ud800key": 1 } },
    { kind: "mset", fields: { "f\ud800": 1 } },
  ] as const) {
    assert.throws(() => applyMutation(undefined, m as never, ctx), /RS_ERR_STORE_BAD_REQUEST|lone UTF-16 surrogate/);
  }
  assert.doesNotThrow(() => applyMutation(undefined, { kind: "sadd", members: ["emoji 😀"] }, ctx));
});
