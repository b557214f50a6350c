// Killing app instances under steady load: the gateway hides every death from clients
// (retries of idempotent requests on another instance), takes the dead instance out of
// rotation in under a second, ejects nothing while all is well, and takes a replacement
// back. A hung (SIGSTOPped) instance is hidden too, by the per-try timeout.
// Subnet 127.111.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Cluster, get, type Outcome, sleep, steadyLoad, waitFor } from "./support/gateway-cluster.ts";

const cluster = new Cluster([{ name: "k", subnet: "127.111", lat: 10, lon: 10, apps: 3 }]);
const url = cluster.gatewayUrl("k");

before(async () => {
  await cluster.startApps("k");
  await cluster.startGateway("k", ["--per-try-timeout-ms", "400"]);
});
after(() => cluster.stop());

async function metric(name: string): Promise<number> {
  const text = (await get(`${url}/_redshirt/metrics`)).text;
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

type InstanceState = { id: string; healthy: boolean; ejected: boolean };

async function instances(): Promise<InstanceState[]> {
  return (JSON.parse((await get(`${url}/_redshirt/backends`)).text) as { backends: InstanceState[] }).backends;
}

async function outOfRotationMs(id: string): Promise<number> {
  return waitFor(async () => {
    const s = (await instances()).find((i) => i.id === id);
    return s !== undefined && (!s.healthy || s.ejected);
  }, 3_000);
}

function summary(out: Outcome[]): string {
  const bad = out.filter((o) => o.status !== 200);
  return `${out.length} requests, ${bad.length} failed: ${JSON.stringify(bad.slice(0, 3))}`;
}

test("gateway - SIGKILLing app instances under load gives zero client errors; the dead are out in < 1 s", async (t) => {
  let stop = false;
  const load = steadyLoad({ url, path: "/k?delayMs=15", concurrency: 8, until: () => stop, requestsMax: 40_000 });
  await sleep(800);
  assert.equal(await metric("rs_gateway_ejections_total"), 0, "no ejection while every instance is well");
  cluster.kill("k-app1");
  const out1 = await outOfRotationMs("k-app1");
  await sleep(600);
  cluster.kill("k-app2");
  const out2 = await outOfRotationMs("k-app2");
  await sleep(600);
  // A replacement on the same address comes back into rotation.
  await cluster.startApp("k", 1);
  const back = await waitFor(async () => (await instances()).find((i) => i.id === "k-app1")?.healthy === true, 3_000);
  const arrivalsBefore = cluster.apps.get("k-app1")!.arrivals.length;
  await sleep(700);
  stop = true;
  const out = await load;
  assert.ok(out.length > 100, `too little load: ${out.length}`);
  assert.deepEqual(
    out.filter((o) => o.status !== 200),
    [],
    summary(out),
  );
  assert.ok(out1 >= 0 && out1 < 1000, `k-app1 out of rotation after ${out1} ms`);
  assert.ok(out2 >= 0 && out2 < 1000, `k-app2 out of rotation after ${out2} ms`);
  assert.ok(back >= 0, "the replacement became healthy");
  assert.ok(cluster.apps.get("k-app1")!.arrivals.length > arrivalsBefore, "the replacement gets traffic again");
  assert.ok((await metric("rs_gateway_retries_total")) > 0, "deaths were hidden by retries");
  const maxMs = Math.max(...out.map((o) => o.endMs - o.startMs));
  assert.ok(maxMs < 1000, `slowest request ${maxMs.toFixed(0)} ms`);
  t.diagnostic(
    `${out.length} requests, 0 errors; out of rotation after ${out1.toFixed(0)} and ${out2.toFixed(0)} ms; slowest ${maxMs.toFixed(0)} ms`,
  );
});

test("gateway - a hung instance (SIGSTOP) is hidden by the per-try timeout and leaves rotation", async (t) => {
  await cluster.startApp("k", 2);
  await waitFor(async () => (await instances()).every((i) => i.healthy && !i.ejected), 3_000);
  let stop = false;
  const load = steadyLoad({ url, path: "/h?delayMs=5", concurrency: 6, until: () => stop, requestsMax: 30_000 });
  await sleep(500);
  const hung = cluster.apps.get("k-app3")!;
  hung.proc.kill("SIGSTOP");
  try {
    const outMs = await outOfRotationMs("k-app3");
    await sleep(800);
    stop = true;
    const out = await load;
    assert.deepEqual(
      out.filter((o) => o.status !== 200),
      [],
      summary(out),
    );
    assert.ok(outMs >= 0 && outMs < 1500, `hung instance out of rotation after ${outMs} ms`);
    const maxMs = Math.max(...out.map((o) => o.endMs - o.startMs));
    assert.ok(maxMs < 1500, `slowest request ${maxMs.toFixed(0)} ms (per-try timeout 400 ms)`);
    t.diagnostic(
      `${out.length} requests, 0 errors; hung instance out after ${outMs.toFixed(0)} ms; slowest ${maxMs.toFixed(0)} ms`,
    );
  } finally {
    hung.proc.kill("SIGCONT");
  }
});
