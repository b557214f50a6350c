// Draining and graceful stop, with the gateway in this process (so the test can mark an
// instance draining through its InstanceSource) and real app processes: a draining
// instance finishes what it has and gets nothing new; a stopping gateway leaves rotation
// (healthz 503 for as long as DNS takes to drop it, still serving), then refuses new
// connections, and finishes the requests in flight.
// Subnet 127.116.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createLogger } from "../src/core/index.ts";
import { loadPlanet } from "../src/topology/index.ts";
import { Gateway, leaveDnsMsDefault, PlanetInstanceSource } from "../src/traffic/index.ts";
import { Cluster, get, sleep } from "./support/gateway-cluster.ts";

const cluster = new Cluster([{ name: "d", subnet: "127.116", lat: 10, lon: 10, apps: 2 }]);
const url = cluster.gatewayUrl("d");
let source: PlanetInstanceSource;
let gateway: Gateway;

before(async () => {
  await cluster.startApps("d");
  const planet = loadPlanet(cluster.planetFile);
  source = new PlanetInstanceSource(planet, "d");
  gateway = new Gateway({ planet, site: "d", source, log: createLogger({}, { level: "error" }) });
  await gateway.start();
});
after(async () => {
  await gateway.stop();
  await cluster.stop();
});

async function instanceOf(path: string): Promise<string> {
  const r = await get(`${url}${path}`);
  assert.equal(r.status, 200);
  return (JSON.parse(r.text) as { instance: string }).instance;
}

test("gateway - a draining instance finishes its requests and gets no new ones", async () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(await instanceOf(`/warm-${i}`));
  assert.deepEqual([...seen].sort(), ["d-app1", "d-app2"]);
  // Slow requests in progress on both instances when the drain starts.
  const slow = Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const r = await get(`${url}/slow?delayMs=600&n=${i}`);
      return [r.status, (JSON.parse(r.text) as { instance: string }).instance] as const;
    }),
  );
  await sleep(150);
  source.setDraining("d-app1", true);
  const during = new Set<string>();
  for (let i = 0; i < 30; i++) during.add(await instanceOf(`/during-${i}`));
  assert.deepEqual([...during], ["d-app2"], "no new request goes to the draining instance");
  const finished = await slow;
  assert.ok(
    finished.some(([, inst]) => inst === "d-app1"),
    "some slow request was on the draining instance",
  );
  assert.ok(
    finished.every(([status]) => status === 200),
    "the requests in progress finished",
  );
  const view = JSON.parse((await get(`${url}/_redshirt/backends`)).text) as {
    backends: Array<{ id: string; inRotation: boolean; why: string | null; drainReason: string | null }>;
  };
  const d1 = view.backends.find((i) => i.id === "d-app1");
  assert.deepEqual([d1?.inRotation, d1?.why, d1?.drainReason], [false, "draining", "manual"]);
  source.setDraining("d-app1", false);
  const back = new Set<string>();
  for (let i = 0; i < 30; i++) back.add(await instanceOf(`/back-${i}`));
  assert.ok(back.has("d-app1"), "undrained, it gets traffic again");
});

test("gateway - stop leaves rotation first (healthz 503 while still serving), then lets requests in flight finish", async () => {
  const inflight = fetch(`${url}/last?delayMs=500`, { signal: AbortSignal.timeout(5_000) });
  await sleep(100);
  const stopAt = performance.now();
  const stopped = gateway.stop();
  await sleep(20);
  const r = await inflight;
  assert.equal(r.status, 200);
  assert.match(r.headers.get("connection") ?? "", /close/i, "the client is told the connection ends");
  // Out of DNS first: healthz says 503 while new connections are still served.
  const h = await get(`${url}/_redshirt/healthz`);
  assert.equal(h.status, 503);
  assert.equal((JSON.parse(h.text) as { shuttingDown: boolean }).shuttingDown, true);
  assert.equal((await get(`${url}/during-leave`)).status, 200, "requests are still served while DNS drops it");
  await stopped;
  const tookMs = performance.now() - stopAt;
  assert.ok(tookMs >= leaveDnsMsDefault, `stopped after ${tookMs.toFixed(0)} ms, before DNS could drop it`);
  await assert.rejects(get(`${url}/after-stop`), "no new connections after stop");
});
