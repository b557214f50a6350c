// Panic mode with real processes: instances that reset every request while their health
// checks pass (what overload looks like from a gateway) are ejected; one such instance is
// simply out, but when most are, ejection is ignored — the site keeps serving with what it
// has, its healthz stays 200 (DNS keeps it), a metric says panic is on, and the moment the
// instances recover they serve again instead of sitting out an ejection back-off.
// Subnet 127.193.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Cluster, get, sleep, waitFor } from "./support/gateway-cluster.ts";

const cluster = new Cluster([{ name: "p", subnet: "127.193", lat: 10, lon: 10, apps: 3 }]);
const url = cluster.gatewayUrl("p");

before(async () => {
  await cluster.startApps("p");
  await cluster.startGateway("p", ["--no-failover"]);
});
after(() => cluster.stop());

type Backend = { id: string; inRotation: boolean; why: string | null; ejected: boolean };
type View = { panic: boolean; backends: Backend[] };

async function view(): Promise<View> {
  return JSON.parse((await get(`${url}/_redshirt/backends`)).text) as View;
}

async function metric(name: string): Promise<number> {
  const text = (await get(`${url}/_redshirt/metrics`)).text;
  const line = text.split("\n").find((l) => l.startsWith(name));
  return Number(line?.split(" ").at(-1) ?? Number.NaN);
}

async function setReset(ids: number[], on: boolean): Promise<void> {
  await Promise.all(ids.map((k) => get(`http://127.193.4.${k}:9000/control/reset?v=${on ? 1 : 0}`)));
}

async function burst(n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await get(`${url}/b${i}`)).status);
  return statuses;
}

test("gateway panic - one misbehaving instance is ejected and hidden; no panic", async () => {
  await setReset([1], true);
  try {
    const statuses = await burst(40);
    assert.deepEqual([...new Set(statuses)], [200], "resets on one instance are retried on the others");
    const v = await view();
    assert.equal(v.panic, false);
    assert.deepEqual(
      v.backends.map((b) => [b.id, b.why]),
      [
        ["p-app1", "ejected"],
        ["p-app2", null],
        ["p-app3", null],
      ],
    );
    assert.equal(await metric("rs_gateway_panic "), 0);
  } finally {
    await setReset([1], false);
  }
});

test("gateway panic - when most instances are ejected, ejection is ignored; healthz stays 200; recovery is immediate", async (t) => {
  // Let the first test's ejection run out.
  await waitFor(async () => (await view()).backends.every((b) => b.inRotation), 5_000);
  await setReset([1, 2, 3], true);
  let recovered: number[] = [];
  try {
    const statuses = await burst(12);
    assert.ok(
      statuses.every((s) => s === 502),
      `the instances fail every request: ${statuses}`,
    );
    const v = await view();
    assert.equal(v.panic, true, "most live instances ejected: panic");
    assert.ok(
      v.backends.every((b) => b.ejected && b.inRotation),
      JSON.stringify(v.backends),
    );
    assert.equal(await metric("rs_gateway_panic "), 1);
    assert.ok((await metric('rs_gateway_panics_total{balancer="local"}')) >= 1);
    const h = await get(`${url}/_redshirt/healthz`);
    assert.equal(h.status, 200, "the site can still serve (its instances are alive): DNS keeps it");
    assert.equal((JSON.parse(h.text) as { panic: boolean }).panic, true);
  } finally {
    await setReset([1, 2, 3], false);
  }
  // The ejections have not run out, yet the recovered instances serve at once.
  recovered = await burst(10);
  const stillEjected = (await view()).backends.filter((b) => b.ejected).length;
  assert.deepEqual([...new Set(recovered)], [200]);
  assert.ok(stillEjected > 0, "served while the ejection back-off still ran");
  const overMs = await waitFor(async () => !(await view()).panic, 10_000);
  assert.ok(overMs >= 0, "panic ends when the ejections expire");
  await sleep(50);
  assert.equal(await metric("rs_gateway_panic "), 0);
  t.diagnostic(`recovered at once with ${stillEjected} still ejected; panic over ${overMs.toFixed(0)} ms later`);
});
