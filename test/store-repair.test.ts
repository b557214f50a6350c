// Anti-entropy with real processes: 3 sites × 3 store nodes on loopback.
// 1. Writes acknowledged at local-quorum by a coordinator that is then SIGKILLed and left dead,
//    while the other sites were paused (SIGSTOP) so nothing could stream there: only rounds
//    between the survivors can carry them, and every live replica of every site must hold
//    them within 10 s.
// 2. A node down while thousands of keys are written in every partition comes back and
//    catches up; the rate is printed.
// Addresses: 127.170.0.0/16 – 127.175.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Agent, request } from "undici";
import { StoreCluster } from "./support/store-cluster.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const agent = new Agent({ connections: 16, keepAliveTimeout: 5_000 });

type Write = { key: string; path: string; method: "PUT" | "POST"; body: unknown; expect: (v: unknown) => boolean };

async function send(base: string, w: Write, consistency: string, opId: string): Promise<number> {
  return (await sendWithBody(base, w, consistency, opId)).status;
}

async function sendWithBody(base: string, w: Write, consistency: string, opId: string) {
  const res = await request(`${base}/v1/kv/${encodeURIComponent(w.key)}${w.path}?consistency=${consistency}`, {
    method: w.method,
    headers: { "content-type": "application/json", "idempotency-key": opId },
    body: JSON.stringify(w.body),
    dispatcher: agent,
  });
  return { status: res.statusCode, body: await res.body.text() };
}

async function readLocalOne(base: string, key: string): Promise<{ exists: boolean; value?: unknown }> {
  const res = await request(`${base}/v1/kv/${encodeURIComponent(key)}?consistency=local-one`, { dispatcher: agent });
  return (await res.body.json()) as { exists: boolean; value?: unknown };
}

async function roots(cluster: StoreCluster, node: string): Promise<string> {
  const res = await request(`${cluster.url(node)}/v1/trees`, { dispatcher: agent });
  return JSON.stringify(((await res.body.json()) as { roots: number[] }).roots);
}

async function internalErrors(cluster: StoreCluster, node: string): Promise<number> {
  const res = await request(`${cluster.url(node)}/metrics`, { dispatcher: agent });
  const text = await res.body.text();
  let total = 0;
  for (const m of text.matchAll(/^redshirt_store_internal_errors_total(?:\{[^}]*\})? (\d+)$/gm)) total += Number(m[1]);
  return total;
}

async function peersDown(cluster: StoreCluster, node: string): Promise<string[]> {
  const res = await request(`${cluster.url(node)}/healthz`, { dispatcher: agent });
  return ((await res.body.json()) as { peersDown: string[] }).peersDown;
}

/** Waits (bounded) until `check` holds, polling every `everyMs`. Returns the ms it took, or -1. */
async function waitFor(check: () => Promise<boolean>, withinMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < withinMs) {
    if (await check()) return Date.now() - started;
    await sleep(everyMs);
  }
  return (await check()) ? Date.now() - started : -1;
}

function sites(first: number) {
  return [
    { name: "nyc", octet: first, lat: 40.71, lon: -74.01 },
    { name: "lon", octet: first + 1, lat: 51.51, lon: -0.13 },
    { name: "sin", octet: first + 2, lat: 1.35, lon: 103.82 },
  ];
}

test("store repair - local-quorum writes of a coordinator killed after its acks reach every live replica of every site within 10 s", async (t) => {
  await using cluster = new StoreCluster({ sites: sites(170), partitions: 16 });
  await cluster.startAll();
  const everyone = cluster.planet.storeNodes.map((n) => n.id);
  const coordinator = "nyc-store1";
  const elsewhere = [...cluster.nodesOf("lon"), ...cluster.nodesOf("sin")];
  assert.ok(
    (await waitFor(async () => (await peersDown(cluster, coordinator)).length === 0, 15_000)) >= 0,
    "the planet did not connect",
  );
  // The other sites freeze: their sockets stay open, but they answer nothing, so once the
  // coordinator has marked them down nothing of what follows is streamed to them.
  for (const n of elsewhere) cluster.pause(n);
  const down = await waitFor(async () => (await peersDown(cluster, coordinator)).length === elsewhere.length, 15_000);
  assert.ok(down >= 0, "the coordinator never noticed the paused sites");

  const writes: Write[] = [];
  for (let i = 0; i < 40; i++) {
    writes.push({ key: `cnt${i}`, path: "/incr", method: "POST", body: { by: i + 1 }, expect: (v) => v === i + 1 });
    writes.push({
      key: `set${i}`,
      path: "/add",
      method: "POST",
      body: { members: [`a${i}`, `b${i}`] },
      expect: (v) => Array.isArray(v) && v.includes(`a${i}`) && v.includes(`b${i}`),
    });
    writes.push({
      key: `reg${i}`,
      path: "",
      method: "PUT",
      body: { value: { i } },
      expect: (v) => JSON.stringify(v) === JSON.stringify({ i }),
    });
  }
  const statuses = await Promise.all(
    writes.map((w, i) => send(cluster.url(coordinator), w, "local-quorum", `rep-${i}`)),
  );
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
    "every local-quorum write is acknowledged inside the coordinator's site",
  );
  await cluster.kill(coordinator);
  for (const n of elsewhere) cluster.resume(n);
  const live = everyone.filter((n) => n !== coordinator);
  const resumedAt = Date.now();

  const missing = async (node: string): Promise<string[]> => {
    const out: string[] = [];
    for (const w of writes) {
      const r = await readLocalOne(cluster.url(node), w.key);
      if (!r.exists || !w.expect(r.value)) out.push(w.key);
    }
    return out;
  };
  const agreeMs = await waitFor(
    async () => new Set(await Promise.all(live.map((n) => roots(cluster, n)))).size === 1,
    10_000,
    250,
  );
  const tookMs = Date.now() - resumedAt;
  t.diagnostic(`${live.length} live replicas' trees agree ${tookMs} ms after the paused sites resumed`);
  for (const node of live) {
    const lacks = await missing(node);
    assert.deepEqual(lacks.slice(0, 10), [], `${node} lacks ${lacks.length} of ${writes.length} acknowledged writes`);
  }
  assert.ok(agreeMs >= 0 && tookMs <= 10_000, `trees did not agree within 10 s (${tookMs} ms)`);
  for (const node of live) assert.equal(await internalErrors(cluster, node), 0, `${node} counted internal errors`);
});

test("store repair - a node down while thousands of keys are written in every partition catches up by anti-entropy alone", async (t) => {
  await using cluster = new StoreCluster({ sites: sites(173), partitions: 64 });
  await cluster.startAll();
  const victim = "lon-store2";
  await cluster.kill(victim);
  const keys = 3_000;
  const writers = ["nyc-store1", "nyc-store2", "sin-store3", "lon-store1"];
  // Nodes started together may find a peer not listening yet and back off before redialing:
  // the writes start once every writer sees every node but the victim.
  for (const w of writers) {
    const connected = await waitFor(async () => (await peersDown(cluster, w)).every((p) => p === victim), 15_000);
    assert.ok(connected >= 0, `${w} never saw every live peer up`);
  }
  let next = 0;
  let failed = 0;
  const failures: string[] = [];
  const writeStarted = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async (_, lane) => {
      for (let i = next++; i < keys; i = next++) {
        const w: Write = { key: `k${i}`, path: "", method: "PUT", body: { value: i }, expect: () => true };
        const writer = writers[lane % writers.length];
        const sentAt = Date.now() - writeStarted;
        const { status, body } = await sendWithBody(cluster.url(writer), w, "local-quorum", `bulk-${i}`);
        if (status !== 200) {
          failed++;
          if (failures.length < 5) failures.push(`${writer} k${i} at ${sentAt} ms: ${status} ${body.slice(0, 300)}`);
        }
      }
    }),
  );
  t.diagnostic(`${keys} keys written in ${Date.now() - writeStarted} ms while ${victim} was down (${failed} failed)`);
  assert.equal(failed, 0, `failed writes (first 5):\n${failures.join("\n")}`);
  // Once the others agree, the coordinators die for good: their logs, which hold every one
  // of those writes for the victim, can never stream. Only anti-entropy can refill it.
  const survivors = cluster.planet.storeNodes.map((n) => n.id).filter((n) => n !== victim && !writers.includes(n));
  const others = cluster.planet.storeNodes.map((n) => n.id).filter((n) => n !== victim);
  const agreed = await waitFor(
    async () => new Set(await Promise.all(others.map((n) => roots(cluster, n)))).size === 1,
    30_000,
  );
  assert.ok(agreed >= 0, "the nodes that were up did not agree");
  for (const w of writers) await cluster.kill(w);
  await cluster.start(victim);
  const backAt = Date.now();
  const peer = "lon-store3";
  const tookMs = await waitFor(
    async () => (await roots(cluster, victim)) === (await roots(cluster, peer)),
    60_000,
    100,
  );
  assert.ok(tookMs >= 0, `${victim} still differs from ${peer} 60 s after it came back`);
  const sinceBackMs = Date.now() - backAt;
  t.diagnostic(
    `${victim} refilled with ${keys} keys by anti-entropy in ${sinceBackMs} ms after its restart (${Math.round((keys * 1000) / sinceBackMs)} keys/s, start-up included)`,
  );
  for (const i of [0, 1, 999, keys - 1]) {
    const r = await readLocalOne(cluster.url(victim), `k${i}`);
    assert.deepEqual(r.value, i, `${victim} lacks k${i}`);
  }
  for (const node of [...survivors, victim]) {
    assert.equal(await internalErrors(cluster, node), 0, `${node} counted internal errors`);
  }
});
