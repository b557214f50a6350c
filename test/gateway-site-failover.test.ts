// Priority failover between sites, with real processes: when every app instance of a site
// dies, its gateway forwards to the nearest site whose gateway has local capacity, in
// under a second and with zero client errors for idempotent requests; it comes back home
// as soon as local instances return; a forwarded request is never forwarded again; with
// no capacity anywhere the answer is 503 with Retry-After.
// Sites: a ≈ New York (127.112), b ≈ London (127.113), c ≈ Singapore (127.114).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  Cluster,
  get,
  type Outcome,
  rawExchange,
  sleep,
  splitResponses,
  steadyLoad,
  waitFor,
} from "./support/gateway-cluster.ts";

const cluster = new Cluster([
  { name: "a", subnet: "127.112", lat: 40.71, lon: -74.0, apps: 2 },
  { name: "b", subnet: "127.113", lat: 51.5, lon: -0.12, apps: 2 },
  { name: "c", subnet: "127.114", lat: 1.35, lon: 103.8, apps: 2 },
]);
const urlA = cluster.gatewayUrl("a");

before(async () => {
  await Promise.all(["a", "b", "c"].map((s) => cluster.startApps(s)));
  await Promise.all(["a", "b", "c"].map((s) => cluster.startGateway(s)));
});
after(() => cluster.stop());

type Health = { ok: boolean; healthyInstances: number; failoverSite: string | null };

async function health(site: string): Promise<{ status: number; body: Health }> {
  const r = await get(`${cluster.gatewayUrl(site)}/_redshirt/healthz`);
  return { status: r.status, body: JSON.parse(r.text) as Health };
}

const siteOf = (o: Outcome): string | undefined => o.instance?.split("-")[0];

function failures(out: Outcome[]): Outcome[] {
  return out.filter((o) => o.status !== 200);
}

test("gateway - a site that loses every instance fails over to the nearest site in < 1 s, then comes home", async (t) => {
  let stop = false;
  const load = steadyLoad({ url: urlA, path: "/f?delayMs=10", concurrency: 6, until: () => stop, requestsMax: 40_000 });
  await sleep(700);
  const killedAt = performance.now();
  cluster.kill("a-app1");
  cluster.kill("a-app2");
  await waitFor(async () => (await health("a")).status === 503, 2_000);
  await sleep(1_000);
  const a = await health("a");
  assert.equal(a.status, 503, "no local capacity: the DNS must drop this site");
  assert.equal(a.body.failoverSite, "b", "the nearest site with capacity");
  // A request another gateway already forwarded (an authentic hop, from b's gateway address) is never forwarded again.
  const hop = `GET /hopped HTTP/1.1\r\nHost: h\r\nRS-Hop: ${cluster.hopStamp("b")}\r\nConnection: close\r\n\r\n`;
  const [hopped] = splitResponses(
    (await rawExchange({ ...cluster.gatewayAddress("a"), localAddress: cluster.gatewayAddress("b").host }, hop)).bytes,
  );
  assert.equal(hopped.status, 503);
  assert.match(hopped.head, /retry-after: 1/i);
  assert.match(hopped.body, /RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND/);
  // The same from a client's address, or a bare RS-Hop, changes nothing: failover stays on.
  const [fromClient] = splitResponses((await rawExchange(cluster.gatewayAddress("a"), hop)).bytes);
  assert.equal(fromClient.status, 200);
  const forged = await get(`${urlA}/forged`, { "RS-Hop": "b" });
  assert.equal(forged.status, 200);
  assert.equal(forged.headers.get("x-instance")?.split("-")[0], "b");
  const restartAt = performance.now();
  await Promise.all([cluster.startApp("a", 1), cluster.startApp("a", 2)]);
  // Starting two Node processes takes 1–3 s on a loaded two-core machine; what the gateway
  // owes is how soon it sends home once an instance listens.
  const readyAt = performance.now();
  await waitFor(async () => (await health("a")).status === 200, 3_000);
  await sleep(800);
  stop = true;
  const out = await load;

  assert.deepEqual(failures(out), [], `${out.length} requests`);
  // A signal lands a few ms after kill() returns: answers a's apps wrote just before count as a's.
  const afterKill = out.filter((o) => o.startMs > killedAt + 50 && o.startMs < restartAt);
  const notB = afterKill.filter((o) => siteOf(o) !== "b");
  assert.deepEqual(
    notB.map((o) => ({ ...o, startMs: o.startMs - killedAt, endMs: o.endMs - killedAt })),
    [],
    "while a is empty, every answer comes from b (never c)",
  );
  const firstB = Math.min(...out.filter((o) => o.endMs > killedAt && siteOf(o) === "b").map((o) => o.endMs));
  assert.ok(firstB - killedAt < 1000, `first answer from b ${(firstB - killedAt).toFixed(0)} ms after the kill`);
  const worst = Math.max(...out.filter((o) => o.endMs > killedAt).map((o) => o.endMs - Math.max(o.startMs, killedAt)));
  assert.ok(worst < 1000, `a request took ${worst.toFixed(0)} ms across the failover`);
  const home = out.filter((o) => o.startMs > restartAt && siteOf(o) === "a");
  assert.ok(home.length > 0, "traffic came back home");
  const homeAfterMs = Math.min(...home.map((o) => o.endMs)) - restartAt;
  const homeAfterReadyMs = Math.min(...home.map((o) => o.endMs)) - readyAt;
  assert.ok(
    homeAfterReadyMs < 1500,
    `home again ${homeAfterReadyMs.toFixed(0)} ms after the instances listened (${homeAfterMs.toFixed(0)} ms after the restart began)`,
  );
  const lastFromB = Math.max(...out.filter((o) => o.startMs > restartAt && siteOf(o) === "b").map((o) => o.startMs));
  t.diagnostic(
    `${out.length} requests, 0 errors; first answer from b ${(firstB - killedAt).toFixed(0)} ms after the kill; ` +
      `slowest across the failover ${worst.toFixed(0)} ms; home ${homeAfterMs.toFixed(0)} ms after the restart began, ${homeAfterReadyMs.toFixed(0)} ms after the instances listened`,
  );
  const settled = out.filter((o) => o.startMs > Math.max(lastFromB, restartAt));
  assert.ok(settled.length > 10 && settled.every((o) => siteOf(o) === "a"), "once home, traffic stays home");
});

test("gateway - with the nearest site empty too, traffic goes to the next; with none left, 503 and Retry-After", async () => {
  let stop = false;
  const load = steadyLoad({ url: urlA, path: "/g?delayMs=5", concurrency: 4, until: () => stop, requestsMax: 20_000 });
  await sleep(400);
  for (const id of ["a-app1", "a-app2", "b-app1", "b-app2"]) cluster.kill(id);
  const killedAt = performance.now();
  await waitFor(async () => (await health("b")).status === 503 && (await health("a")).body.failoverSite === "c", 2_000);
  await sleep(800);
  stop = true;
  const out = await load;
  assert.deepEqual(failures(out), [], `${out.length} requests`);
  const late = out.filter((o) => o.startMs > killedAt + 50);
  assert.ok(late.length > 0 && late.every((o) => siteOf(o) === "c"), "served by the next nearest site");

  cluster.kill("c-app1");
  cluster.kill("c-app2");
  const gone = await waitFor(async () => (await get(`${urlA}/none`)).status === 503, 3_000);
  assert.ok(gone >= 0, "no capacity anywhere: 503");
  const r = await get(`${urlA}/none`);
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "1");
});
