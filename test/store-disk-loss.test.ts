// Disk loss with real processes: 3 sites × 3 store nodes on loopback (WAN direct). Under
// bounded load of increments (global), set adds and register writes (local-quorum), each
// with an op id and retried with the same id, a whole site is SIGKILLed; one of its nodes
// comes back on an EMPTY data dir under its old id (what the supervisor does when a disk is
// lost), the other two with their disks, and the load goes on. Afterwards every replica of
// every site holds every acknowledged increment (exactly once: retries are deduplicated),
// element and register write; the rebuilt node says it was refilled as a new incarnation and
// how long that took; no node counted an internal error.
// Addresses: 127.196.0.0/16 – 127.198.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { Agent, request } from "undici";
import { storeDataFile } from "../src/store/index.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new Agent({ connections: 32, keepAliveTimeout: 5_000 });

type Op =
  | { kind: "incr"; key: string; opId: string }
  | { kind: "sadd"; key: string; opId: string; member: string }
  | { kind: "set"; key: string; opId: string; value: string };

type Outcome = "acked" | "maybe";

async function send(base: string, op: Op): Promise<number> {
  const [path, method, body, consistency] =
    op.kind === "incr"
      ? ["/incr", "POST", { by: 1 }, "global"]
      : op.kind === "sadd"
        ? ["/add", "POST", { members: [op.member] }, "local-quorum"]
        : ["", "PUT", { value: op.value }, "local-quorum"];
  const res = await request(`${base}/v1/kv/${encodeURIComponent(op.key)}${path}?consistency=${consistency}`, {
    method: method as "POST" | "PUT",
    headers: { "content-type": "application/json", "idempotency-key": op.opId, "rs-timeout-ms": "3000" },
    body: JSON.stringify(body),
    dispatcher: agent,
    headersTimeout: 8_000,
    bodyTimeout: 8_000,
  });
  await res.body.text();
  return res.statusCode;
}

async function readLocalOne(base: string, key: string): Promise<{ exists: boolean; value?: unknown }> {
  const res = await request(`${base}/v1/kv/${encodeURIComponent(key)}?consistency=local-one`, { dispatcher: agent });
  const body = (await res.body.json()) as { exists: boolean; value?: unknown };
  assert.equal(res.statusCode, 200, `read ${key} at ${base}: ${JSON.stringify(body)}`);
  return body;
}

async function json<T>(url: string): Promise<T> {
  const res = await request(url, { dispatcher: agent });
  return (await res.body.json()) as T;
}

async function metric(cluster: StoreCluster, node: string, name: string): Promise<number> {
  const res = await request(`${cluster.url(node)}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))) total += Number(m[1]);
  return total;
}

type Health = { peersDown: string[]; incarnation?: Record<string, unknown> & { phase: string; id: string } };

/** Waits (bounded) until `check` holds. Returns the ms it took, or -1. */
async function waitFor(check: () => Promise<boolean>, withinMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(everyMs);
  }
  return (await check().catch(() => false)) ? Date.now() - started : -1;
}

/**
 * Starts every node one after the other (on a loaded machine nine processes starting at once
 * can each take longer than the launcher's readiness wait) and waits until all are connected
 * and sound first incarnations. Returns the node ids.
 */
async function startSettled(cluster: StoreCluster): Promise<string[]> {
  for (const n of cluster.planet.storeNodes) await cluster.start(n.id);
  const everyone = cluster.planet.storeNodes.map((n) => n.id);
  const connected = await waitFor(
    async () =>
      (await Promise.all(everyone.map((n) => json<Health>(`${cluster.url(n)}/healthz`)))).every(
        (h) => h.peersDown.length === 0 && h.incarnation?.phase === "sound",
      ),
    20_000,
  );
  assert.ok(connected >= 0, "the planet did not connect (or its nodes did not settle as first incarnations)");
  return everyone;
}

const sites = [
  { name: "nyc", octet: 196, lat: 40.71, lon: -74.01 },
  { name: "lon", octet: 197, lat: 51.51, lon: -0.13 },
  { name: "sin", octet: 198, lat: 1.35, lon: 103.82 },
];

test("store disk loss - a whole site SIGKILLed under load, one node back on an empty data dir under its old id: no acknowledged increment, element or register write is missing on any replica of any site", async (t) => {
  await using cluster = new StoreCluster({ sites, partitions: 64 });
  const everyone = await startSettled(cluster);
  const victim = "nyc-store1";
  const before = await json<Health>(`${cluster.url(victim)}/healthz`);
  // History in every partition, so that anti-entropy alone would need a while to bring a
  // rebuilt node back (the window in which its own compaction used to erase the counters).
  const fillers = 4_000;
  let nextFiller = 0;
  await Promise.all(
    Array.from({ length: 32 }, async (_, lane) => {
      for (let i = nextFiller++; i < fillers; i = nextFiller++) {
        const op: Op = { kind: "set", key: `f${i}`, opId: `fill-${i}`, value: `f${i}` };
        const status = await send(cluster.url(everyone[lane % everyone.length]), op).catch(() => 0);
        assert.equal(status, 200, `filler ${i}`);
      }
    }),
  );

  // The load: lanes each doing one op at a time, retried with the same op id on another node.
  const outcomes = new Map<Op, Outcome>();
  // Many counters, so they spread over the partitions: anti-entropy alone would take a while
  // to reach them all, which is when a rebuilt node's own compaction did its damage.
  const counters = Array.from({ length: 48 }, (_, i) => `g${i}`);
  const setKeys = ["s0", "s1", "s2", "s3"];
  let seq = 0;
  let stop = false;
  const up = new Set(everyone);
  const lane = async (n: number) => {
    while (!stop) {
      const i = seq++;
      const kind = i % 3;
      const op: Op =
        kind === 0
          ? { kind: "incr", key: counters[Math.floor(i / 3) % counters.length], opId: `op${i}` }
          : kind === 1
            ? { kind: "sadd", key: setKeys[i % setKeys.length], opId: `op${i}`, member: `m${i}` }
            : { kind: "set", key: `r${i}`, opId: `op${i}`, value: `v${i}` };
      let outcome: Outcome = "maybe";
      for (let attempt = 0; attempt < 6 && outcome !== "acked"; attempt++) {
        const targets = [...up];
        const node = targets[(n + i + attempt) % targets.length];
        try {
          if ((await send(cluster.url(node), op)) === 200) outcome = "acked";
        } catch {
          // A killed node: the retry goes elsewhere with the same op id.
        }
        if (outcome !== "acked") await sleep(100);
      }
      outcomes.set(op, outcome);
    }
  };
  const lanes = Array.from({ length: 8 }, (_, n) => lane(n));

  // Long enough for stability to pass and compaction to fold counter ops into their bases.
  await sleep(5_000);
  const compactedBefore = await metric(cluster, "lon-store1", "redshirt_store_compactions_total");
  for (const n of cluster.nodesOf("nyc")) up.delete(n);
  await Promise.all(cluster.nodesOf("nyc").map((n) => cluster.kill(n)));
  const killedAt = Date.now();
  await sleep(1_500);
  const file = storeDataFile(cluster.planet, victim);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
  // The two with their disks first, the rebuilt one last: it then has every peer at once.
  for (const n of cluster.nodesOf("nyc").filter((n) => n !== victim)) {
    await cluster.start(n);
    up.add(n);
  }
  const backAt = Date.now();
  await cluster.start(victim);
  up.add(victim);
  await sleep(6_000);
  stop = true;
  await Promise.all(lanes);

  const soundMs = await waitFor(
    async () => (await json<Health>(`${cluster.url(victim)}/healthz`)).incarnation?.phase === "sound",
    60_000,
  );
  const health = await json<Health>(`${cluster.url(victim)}/healthz`);
  t.diagnostic(`rebuilt node: ${JSON.stringify(health.incarnation)} (sound ${Date.now() - backAt} ms after its start)`);
  assert.ok(soundMs >= 0, "the rebuilt node never finished its refill");
  assert.notEqual(health.incarnation?.id, before.incarnation?.id, "an empty data dir is a new incarnation");
  assert.equal(health.incarnation?.reborn, true, "its peers told it that its node id had an earlier incarnation");
  assert.ok(compactedBefore > 0, "counters were compacted before the loss (else the test proves less)");

  const agreeMs = await waitFor(
    async () =>
      new Set(
        await Promise.all(
          everyone.map(async (n) =>
            JSON.stringify((await json<{ roots: number[] }>(`${cluster.url(n)}/v1/trees`)).roots),
          ),
        ),
      ).size === 1,
    60_000,
    500,
  );
  t.diagnostic(
    `all 9 replicas agree ${Date.now() - killedAt} ms after the site was killed (${agreeMs} ms after the load stopped and the refill ended)`,
  );

  const acked = [...outcomes].filter(([, o]) => o === "acked").map(([op]) => op);
  const maybe = [...outcomes].filter(([, o]) => o === "maybe").map(([op]) => op);
  t.diagnostic(`${acked.length} ops acknowledged, ${maybe.length} not (maybe applied)`);
  assert.ok(acked.length > 300, "too few acknowledged ops to prove anything");
  const problems: string[] = [];
  for (const node of everyone) {
    const base = cluster.url(node);
    for (const key of counters) {
      const ackedN = acked.filter((op) => op.key === key).length;
      const maybeN = maybe.filter((op) => op.key === key).length;
      const r = await readLocalOne(base, key);
      const v = r.exists ? (r.value as number) : 0;
      if (v < ackedN || v > ackedN + maybeN)
        problems.push(`${node} ${key}: ${v}, acknowledged ${ackedN} (+${maybeN} maybe)`);
    }
    for (const key of setKeys) {
      const r = await readLocalOne(base, key);
      const members = new Set((r.value as string[] | undefined) ?? []);
      const lacks = acked.filter((op) => op.key === key && op.kind === "sadd" && !members.has(op.member));
      if (lacks.length > 0) problems.push(`${node} ${key} lacks ${lacks.length} acknowledged elements`);
    }
    let registersLost = 0;
    for (const op of acked) {
      if (op.kind !== "set") continue;
      const r = await readLocalOne(base, op.key);
      if (!r.exists || r.value !== op.value) registersLost++;
    }
    if (registersLost > 0) problems.push(`${node} lacks ${registersLost} acknowledged register writes`);
  }
  assert.deepEqual(problems, [], "every replica of every site holds every acknowledged write");
  assert.ok(agreeMs >= 0, "the replicas' trees did not agree within 60 s");
  for (const node of everyone) {
    assert.equal(
      await metric(cluster, node, "redshirt_store_internal_errors_total"),
      0,
      `${node} counted internal errors`,
    );
  }
  assert.ok(
    (await metric(cluster, "lon-store1", "redshirt_store_peer_rebirths_total")) >= 1,
    "lon-store1 saw the rebirth",
  );
});

test("store disk loss - a node rebuilt on an empty data dir refills thousands of keys at disk and network speed, not a partition a second", async (t) => {
  await using cluster = new StoreCluster({ sites, partitions: 64 });
  const everyone = await startSettled(cluster);
  const keys = 6_000;
  const writers = ["lon-store1", "sin-store2", "nyc-store3"];
  let next = 0;
  let failed = 0;
  const writeStarted = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async (_, lane) => {
      for (let i = next++; i < keys; i = next++) {
        const op: Op = { kind: "set", key: `k${i}`, opId: `bulk-${i}`, value: `v${i}` };
        const status = await send(cluster.url(writers[lane % writers.length]), op).catch(() => 0);
        if (status !== 200) failed++;
      }
    }),
  );
  t.diagnostic(`${keys} keys written in ${Date.now() - writeStarted} ms (${failed} failed)`);
  assert.equal(failed, 0);
  const victim = "nyc-store2";
  await cluster.kill(victim);
  const file = storeDataFile(cluster.planet, victim);
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
  const startedAt = Date.now();
  await cluster.start(victim);
  const readyMs = Date.now() - startedAt;
  const soundMs = await waitFor(
    async () => (await json<Health>(`${cluster.url(victim)}/healthz`)).incarnation?.phase === "sound",
    120_000,
    100,
  );
  assert.ok(soundMs >= 0, `${victim} did not finish its refill within 2 minutes`);
  const inc = (await json<Health>(`${cluster.url(victim)}/healthz`)).incarnation as Record<string, number> & {
    phase: string;
  };
  const pulledS = inc.pulledMs / 1000;
  t.diagnostic(
    `${victim} rebuilt from empty: ready ${readyMs} ms after its start, ${keys} keys (${inc.keysPulled} states pulled from its 8 peers) in ${Math.round(inc.pulledMs)} ms = ${Math.round(keys / pulledS)} keys/s (${Math.round(inc.keysPulled / pulledS)} states/s), union pushed back, sound ${Math.round(inc.tookMs)} ms after the refill started`,
  );
  for (const i of [0, 1, 2_999, keys - 1]) {
    const r = await readLocalOne(cluster.url(victim), `k${i}`);
    assert.equal(r.value, `v${i}`, `${victim} lacks k${i}`);
  }
  // Bounded, and loose enough for a machine at load 40: about 100 keys a second would pass.
  assert.ok(inc.pulledMs < 60_000, `the pull took ${inc.pulledMs} ms`);
  for (const node of everyone) {
    assert.equal(
      await metric(cluster, node, "redshirt_store_internal_errors_total"),
      0,
      `${node} counted internal errors`,
    );
  }
});
