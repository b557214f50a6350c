// Discovery with real processes: a store node, echo app instances that register through the
// SDK, and a gateway that finds them in the registry. It picks up an instance started after
// it and drops one SIGKILLed within a second, with zero client errors for idempotent
// requests; an instance SIGTERMed drains through its lease (out of rotation before it stops
// accepting) with zero errors even for POSTs that cannot be retried; /_redshirt/backends
// says who is in rotation and what is in flight; the gateway holds its own lease.
// Subnet 127.192.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Pool } from "undici";
import { registryKey } from "../src/cattle/index.ts";
import { createStoreClient } from "../src/store/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { Cluster, get, type Outcome, sleep, steadyLoad, waitFor } from "./support/gateway-cluster.ts";

const cluster = new Cluster([{ name: "g", subnet: "127.192", lat: 10, lon: 10, apps: 3 }], { registry: true });
const url = cluster.gatewayUrl("g");

before(async () => {
  await cluster.startStores();
  await Promise.all([cluster.startApp("g", 1), cluster.startApp("g", 2)]);
  await cluster.startGateway("g");
});
after(() => cluster.stop());

type Backend = {
  id: string;
  address: string;
  version: string;
  inRotation: boolean;
  why: string | null;
  drainReason: string | null;
  inFlight: number;
};

async function backends(): Promise<Backend[]> {
  return (JSON.parse((await get(`${url}/_redshirt/backends`)).text) as { backends: Backend[] }).backends;
}

async function metric(name: string): Promise<number> {
  const text = (await get(`${url}/_redshirt/metrics`)).text;
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

function summary(out: Outcome[]): string {
  const bad = out.filter((o) => o.status !== 200);
  return `${out.length} requests, ${bad.length} failed: ${JSON.stringify(bad.slice(0, 3))}`;
}

test("gateway discovery - the instances registered before it are in rotation; it registered itself", async () => {
  const b = await backends();
  assert.deepEqual(
    b.map((x) => [x.id, x.address, x.version, x.inRotation]),
    [
      ["g-app1", "127.192.4.1:9000", "1", true],
      ["g-app2", "127.192.4.2:9000", "1", true],
    ],
  );
  const store = createStoreClient({ planet: loadPlanet(cluster.planetFile), site: "g" });
  try {
    const fields = (await store.get(registryKey("g"))).value as Record<string, { tier: string; state: string }>;
    assert.deepEqual([fields["g-gateway1"]?.tier, fields["g-gateway1"]?.state], ["gateway", "ready"]);
  } finally {
    await store.close();
  }
});

test("gateway discovery - picks up an instance started after it and drops one SIGKILLed, within 1 s, zero errors", async (t) => {
  let stop = false;
  const load = steadyLoad({ url, path: "/d?delayMs=10", concurrency: 6, until: () => stop, requestsMax: 40_000 });
  await sleep(500);
  await cluster.startApp("g", 3);
  const startedAt = performance.now();
  const inMs = await waitFor(
    async () => (await backends()).find((x) => x.id === "g-app3")?.inRotation === true,
    3_000,
    10,
  );
  const arrivalsAt = cluster.apps.get("g-app3")!.arrivals.length;
  await sleep(600);
  assert.ok(cluster.apps.get("g-app3")!.arrivals.length > arrivalsAt, "the new instance gets traffic");
  cluster.kill("g-app1");
  const killedAt = performance.now();
  const outMs = await waitFor(
    async () => (await backends()).find((x) => x.id === "g-app1")?.inRotation !== true,
    3_000,
    10,
  );
  const goneMs = await waitFor(async () => !(await backends()).some((x) => x.id === "g-app1"), 5_000, 20);
  await sleep(300);
  stop = true;
  const out = await load;
  assert.ok(out.length > 100, `too little load: ${out.length}`);
  assert.deepEqual(
    out.filter((o) => o.status !== 200),
    [],
    summary(out),
  );
  assert.ok(inMs >= 0 && inMs < 1_000, `new instance in rotation after ${inMs.toFixed(0)} ms`);
  assert.ok(outMs >= 0 && outMs < 1_000, `killed instance out of rotation after ${outMs.toFixed(0)} ms`);
  assert.ok(goneMs >= 0 && goneMs < 2_500, `killed instance's lease gone after ${goneMs.toFixed(0)} ms`);
  assert.equal(await metric('rs_registry_reads_total{key="registry",result="failed"}'), 0, "no registry read failed");
  t.diagnostic(
    `${out.length} requests, 0 errors; new instance in rotation ${inMs.toFixed(0)} ms after ready (${(performance.now() - startedAt).toFixed(0)}); killed one out ${outMs.toFixed(0)} ms, lease gone ${goneMs.toFixed(0)} ms after SIGKILL (${(performance.now() - killedAt).toFixed(0)})`,
  );
});

/** POSTs without an Idempotency-Key: a gateway may never retry them once sent. */
async function postLoad(until: () => boolean, concurrency: number): Promise<Outcome[]> {
  const pool = new Pool(new URL(url).origin, { connections: concurrency, pipelining: 1 });
  const out: Outcome[] = [];
  const worker = async (): Promise<void> => {
    while (!until() && out.length < 20_000) {
      const startMs = performance.now();
      try {
        const r = await pool.request({
          path: "/order?delayMs=30",
          method: "POST",
          body: "x=1",
          headersTimeout: 10_000,
        });
        await r.body.dump();
        out.push({ startMs, endMs: performance.now(), status: r.statusCode });
      } catch (err) {
        out.push({ startMs, endMs: performance.now(), status: 0, error: (err as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await pool.close();
  return out;
}

test("gateway discovery - a SIGTERMed instance drains: out of rotation first, zero errors even for POSTs", async (t) => {
  await waitFor(async () => (await backends()).filter((x) => x.inRotation).length === 2, 3_000);
  let stop = false;
  const gets = steadyLoad({ url, path: "/g?delayMs=20", concurrency: 4, until: () => stop, requestsMax: 40_000 });
  const posts = postLoad(() => stop, 4);
  await sleep(500);
  const app2 = cluster.apps.get("g-app2")!;
  const before = app2.arrivals.length;
  const termAt = performance.now();
  app2.proc.kill("SIGTERM");
  const drainMs = await waitFor(
    async () => (await backends()).find((x) => x.id === "g-app2")?.why === "draining",
    2_000,
    10,
  );
  const drained = (await backends()).find((x) => x.id === "g-app2");
  const { code } = await app2.proc.exited;
  const exitMs = performance.now() - termAt;
  await sleep(300);
  stop = true;
  const out = [...(await gets), ...(await posts)];
  assert.equal(code, 0, "the instance exits cleanly after draining");
  assert.ok(app2.arrivals.length > before, "it served until it drained");
  assert.equal(drained?.drainReason, "lease");
  assert.ok(drainMs >= 0 && drainMs < 1_000, `draining seen after ${drainMs.toFixed(0)} ms`);
  assert.ok(out.length > 100, `too little load: ${out.length}`);
  assert.deepEqual(
    out.filter((o) => o.status !== 200),
    [],
    summary(out),
  );
  assert.ok(!(await backends()).some((x) => x.id === "g-app2"), "its lease is gone");
  t.diagnostic(
    `${out.length} requests (half POSTs), 0 errors; draining seen ${drainMs.toFixed(0)} ms after SIGTERM, exited after ${exitMs.toFixed(0)} ms`,
  );
});

test("gateway discovery - /_redshirt/backends counts requests in flight; healthz stays small", async () => {
  const slow = get(`${url}/slow?delayMs=700`);
  const seen = await waitFor(async () => (await backends()).some((x) => x.inFlight > 0), 600, 10);
  assert.ok(seen >= 0, "a request in flight shows");
  assert.equal((await slow).status, 200);
  assert.ok((await waitFor(async () => (await backends()).every((x) => x.inFlight === 0), 1_000, 10)) >= 0);
  const h = await get(`${url}/_redshirt/healthz`);
  assert.equal(h.status, 200);
  assert.ok(h.text.length < 256, `healthz body ${h.text.length} bytes: ${h.text}`);
  assert.deepEqual(Object.keys(JSON.parse(h.text)).sort(), [
    "failoverSite",
    "gateway",
    "healthyInstances",
    "liveInstances",
    "ok",
    "panic",
    "shuttingDown",
    "site",
  ]);
});
