// The store's "wedge" (issue 11), with real processes: 3 sites × 3 store nodes on loopback
// (WAN direct), store.deadPeerAfterS 30. One node dies and stays down until the others count
// it gone (their stability point goes on without it); then another node comes back on an
// EMPTY data dir under its old id, under increments of a few hot counters. A node that
// (re)starts counts a peer's silence from its own start, so before goneByReportAfterMs the
// rebuilt node waited a whole deadPeerAfterS more for the dead peer to confirm it before its
// refill could start, claiming nothing all the while, and every node's stability point stood
// still while the hot counters grew. Now it takes the dead peer as gone once the others say
// so: stability moves again within seconds, the hot counters' states shrink back, writes
// are acknowledged throughout, and once the dead node is back and everything agrees, every
// replica holds every acknowledged increment (and none that was never sent).
// Addresses: 127.245.0.0/16 – 127.247.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { test } from "node:test";
import { Agent, request } from "undici";
import { storeDataFile } from "../src/store/index.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const sites = [
  { name: "nyc", octet: 245, lat: 40.71, lon: -74.01 },
  { name: "lon", octet: 246, lat: 51.51, lon: -0.13 },
  { name: "sin", octet: 247, lat: 1.35, lon: 103.82 },
];
const deadPeerAfterS = Number(process.env.WEDGE_DEAD_S ?? 30);
/** Stability must move again this soon after the rebuilt node's start (was: deadPeerAfterS and more). */
const stabilityBackWithinMs = 20_000;
/** "Stability moves": the stability point is at most this far behind the wall clock. */
const stableLagOkMs = 3_000;
const hotCounters = ["hot0", "hot1", "hot2", "hot3"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new Agent({ connections: 32, keepAliveTimeout: 5_000 });

type Health = {
  peersDown: string[];
  stableLagMs: number;
  incarnation?: { phase: string; id: string; reborn: boolean };
};

async function json<T>(url: string): Promise<T> {
  const res = await request(url, { dispatcher: agent, headersTimeout: 8_000, bodyTimeout: 8_000 });
  return (await res.body.json()) as T;
}

async function metric(cluster: StoreCluster, node: string, name: string): Promise<number> {
  const res = await request(`${cluster.url(node)}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))) total += Number(m[1]);
  return total;
}

/** Waits (bounded) until `check` holds. Returns the ms it took, or -1. */
async function waitFor(check: () => Promise<boolean>, withinMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if (await check().catch(() => false)) return Date.now() - started;
    await sleep(everyMs);
  }
  return (await check().catch(() => false)) ? Date.now() - started : -1;
}

/** Every node of `nodes` has a stability point at most stableLagOkMs behind its clock. */
async function stabilityMoves(cluster: StoreCluster, nodes: readonly string[]): Promise<boolean> {
  const lags = await Promise.all(nodes.map(async (n) => (await json<Health>(`${cluster.url(n)}/healthz`)).stableLagMs));
  return lags.every((lag) => lag >= 0 && lag <= stableLagOkMs);
}

/**
 * The largest key state any of `nodes` committed over `forMs` (the gauge covers one second
 * of commits; the hot counters are the only keys written, so this is theirs).
 */
async function largestStateBytes(cluster: StoreCluster, nodes: readonly string[], forMs: number): Promise<number> {
  let largest = 0;
  const until = Date.now() + forMs;
  while (Date.now() < until) {
    for (const n of nodes) largest = Math.max(largest, await metric(cluster, n, "redshirt_store_key_state_bytes_max"));
    await sleep(500);
  }
  return largest;
}

test("store wedge - a node rebuilt on an empty disk while a peer is gone does not hold stability back for another whole dead-peer bound: stability moves again within seconds, hot counters shrink back, writes are acknowledged throughout, no acknowledged increment is lost", async (t) => {
  await using cluster = new StoreCluster({ sites, partitions: 16, deadPeerAfterS });
  for (const n of cluster.planet.storeNodes) await cluster.start(n.id);
  const everyone = cluster.planet.storeNodes.map((n) => n.id);
  const settled = await waitFor(
    async () =>
      (await Promise.all(everyone.map((n) => json<Health>(`${cluster.url(n)}/healthz`)))).every(
        (h) => h.peersDown.length === 0 && h.incarnation?.phase === "sound",
      ),
    30_000,
  );
  assert.ok(settled >= 0, "the planet did not connect (or its nodes did not settle as first incarnations)");

  const dead = "lon-store2";
  const rebuilt = "nyc-store1";
  const up = new Set(everyone);
  // The load: lanes each incrementing a hot counter at a time, local-quorum, each op id sent
  // until acknowledged (to another node each time) or given up as "maybe applied".
  const acked = new Map<string, number>();
  const maybe = new Map<string, number>();
  const ackTimes: number[] = [];
  let seq = 0;
  let stop = false;
  const lane = async (n: number) => {
    while (!stop) {
      const i = seq++;
      const key = hotCounters[i % hotCounters.length];
      let ok = false;
      for (let attempt = 0; attempt < 4 && !ok && !stop; attempt++) {
        const targets = [...up];
        const node = targets[(n + i + attempt) % targets.length];
        try {
          const res = await request(`${cluster.url(node)}/v1/kv/${key}/incr?consistency=local-quorum`, {
            method: "POST",
            headers: { "content-type": "application/json", "idempotency-key": `w${i}`, "rs-timeout-ms": "3000" },
            body: JSON.stringify({ by: 1 }),
            dispatcher: agent,
            headersTimeout: 8_000,
            bodyTimeout: 8_000,
          });
          await res.body.text();
          ok = res.statusCode === 200;
        } catch {
          // A killed node: the retry goes elsewhere with the same op id.
        }
        if (!ok) await sleep(100);
      }
      const tally = ok ? acked : maybe;
      tally.set(key, (tally.get(key) ?? 0) + 1);
      if (ok) ackTimes.push(Date.now());
      await sleep(5);
    }
  };
  const lanes = Array.from({ length: 6 }, (_, n) => lane(n));

  try {
    await sleep(3_000);
    const survivors = everyone.filter((n) => n !== dead);
    up.delete(dead);
    await cluster.kill(dead);
    const killedAt = Date.now();
    // Stability stands still while it is down, until the others count it gone after
    // deadPeerAfterS and go on without it.
    const stoodMs = await waitFor(async () => !(await stabilityMoves(cluster, survivors)), 10_000, 250);
    assert.ok(stoodMs >= 0, "stability did not stand still while a node was down");
    // A whole bound of stability standing still: the hot counters grow with nothing folding them.
    await sleep(deadPeerAfterS * 1_000 - 3_000 - (Date.now() - killedAt));
    const grownBytes = await largestStateBytes(cluster, survivors, 3_000);
    const goneMs = await waitFor(() => stabilityMoves(cluster, survivors), 30_000, 500);
    assert.ok(goneMs >= 0, "stability did not go on without the dead peer once it was gone");
    t.diagnostic(`stability went on without ${dead} ${Date.now() - killedAt} ms after it was killed`);
    // The hot counters fold what piled up before the next freeze starts.
    await sleep(5_000);

    up.delete(rebuilt);
    await cluster.kill(rebuilt);
    const file = storeDataFile(cluster.planet, rebuilt);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(`${file}${suffix}`, { force: true });
    await cluster.start(rebuilt);
    const restartedAt = Date.now();
    up.add(rebuilt);

    // The rebuilt node claims nothing until it is refilled: stability stands still again, for
    // seconds now (a whole bound before), and the hot counters' states meanwhile stay small.
    let rebuildingBytes = 0;
    const backMs = await waitFor(
      async () => {
        for (const n of survivors.filter((x) => x !== rebuilt)) {
          rebuildingBytes = Math.max(rebuildingBytes, await metric(cluster, n, "redshirt_store_key_state_bytes_max"));
        }
        return stabilityMoves(cluster, survivors);
      },
      stabilityBackWithinMs,
      250,
    );
    const health = await json<Health>(`${cluster.url(rebuilt)}/healthz`);
    t.diagnostic(
      `rebuilt node ${JSON.stringify(health.incarnation)}; stability moved again on all 8 nodes ${backMs} ms after its start`,
    );
    assert.ok(
      backMs >= 0,
      `stability did not move again within ${stabilityBackWithinMs} ms of the rebuild (deadPeerAfterS is ${deadPeerAfterS} s)`,
    );
    assert.equal(health.incarnation?.phase, "sound", "the rebuilt node was refilled");
    assert.equal(health.incarnation?.reborn, true, "its peers told it that its node id had an earlier incarnation");
    assert.ok(
      (await metric(cluster, rebuilt, "redshirt_store_peers_gone_by_report_total")) >= 1,
      "the rebuilt node took the dead peer as gone on its peers' word (counted)",
    );
    const ackedWhileRebuilding = ackTimes.filter((at) => at >= restartedAt && at <= restartedAt + backMs).length;

    // The hot counters fold again: their states shrink back to a few stability lags of ops.
    await sleep(5_000);
    const foldedBytes = await largestStateBytes(cluster, survivors, 3_000);
    const ackedAfter = ackTimes.filter((at) => at > restartedAt + backMs).length;
    t.diagnostic(
      `hot counter state: ${grownBytes} bytes after ${deadPeerAfterS - 3} s of stability standing still for the dead node, ${rebuildingBytes} at most while the node was rebuilt, ${foldedBytes} 5–8 s after stability moved again; ${ackedWhileRebuilding} increments acknowledged while the node was rebuilt, ${ackedAfter} after`,
    );
    assert.ok(
      grownBytes > 2 * foldedBytes,
      "the hot counters grew while stability stood still and shrank once it moved",
    );
    assert.ok(foldedBytes < 16 * 1024, `a hot counter's state stays small once stability moves (${foldedBytes} bytes)`);
    assert.ok(rebuildingBytes < grownBytes, "the rebuild held the hot counters back for less than a whole bound");
    assert.ok(ackedWhileRebuilding > 0 && ackedAfter > 50, "writes were acknowledged throughout");
  } finally {
    stop = true;
    await Promise.all(lanes);
  }

  // Everything heals: the dead node comes back with its disk, and every replica agrees.
  await cluster.start(dead);
  const agreeMs = await waitFor(
    async () =>
      new Set(
        await Promise.all(
          everyone.map(async (n) =>
            JSON.stringify((await json<{ roots: number[] }>(`${cluster.url(n)}/v1/trees`)).roots),
          ),
        ),
      ).size === 1,
    90_000,
    500,
  );
  if (agreeMs < 0) {
    for (const n of everyone) {
      t.diagnostic(
        `${n} roots ${JSON.stringify((await json<{ roots: number[] }>(`${cluster.url(n)}/v1/trees`)).roots)}`,
      );
    }
  }
  assert.ok(agreeMs >= 0, "the replicas' trees did not agree within 90 s of the dead node's return");
  const problems: string[] = [];
  let total = 0;
  for (const node of everyone) {
    for (const key of hotCounters) {
      const res = await request(`${cluster.url(node)}/v1/kv/${key}?consistency=local-one`, { dispatcher: agent });
      const body = (await res.body.json()) as { exists: boolean; value?: number };
      assert.equal(res.statusCode, 200, `read ${key} at ${node}: ${JSON.stringify(body)}`);
      const v = body.exists ? (body.value ?? 0) : 0;
      const a = acked.get(key) ?? 0;
      const m = maybe.get(key) ?? 0;
      if (node === everyone[0]) total += a;
      if (v < a || v > a + m) problems.push(`${node} ${key}: ${v}, acknowledged ${a} (+${m} maybe)`);
    }
  }
  t.diagnostic(
    `${total} increments acknowledged in all; every replica agreed ${agreeMs} ms after the dead node's return`,
  );
  assert.ok(total > 500, "too few acknowledged increments to prove anything");
  assert.deepEqual(problems, [], "every replica holds every acknowledged increment, and none that was never sent");
  for (const node of everyone) {
    assert.equal(
      await metric(cluster, node, "redshirt_store_internal_errors_total"),
      0,
      `${node} counted internal errors`,
    );
  }
});
