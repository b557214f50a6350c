// Unsafe requests and retries, with real processes: a POST that reached an instance that
// then died is not retried (the client gets 502 and the app log shows one arrival); the
// same POST with an Idempotency-Key is retried on another instance; a POST whose connect
// was refused (never sent) is retried; a body too large to hold is never retried.
// Subnet 127.115.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Arrival, Cluster, get, sleep, waitFor } from "./support/gateway-cluster.ts";

// The service opted in to Idempotency-Key retries (its app honours the key); a request's
// Host here is an address, which is the planet's first service (www).
const cluster = new Cluster([{ name: "u", subnet: "127.115", lat: 10, lon: 10, apps: 3 }], {
  planetLines: ["gateway:", "  services:", "    www: { idempotencyKeyRetries: true }"],
});
const url = cluster.gatewayUrl("u");

before(async () => {
  await cluster.startApps("u");
  await cluster.startGateway("u");
});
after(() => cluster.stop());

async function counter(name: string): Promise<number> {
  const line = (await get(`${url}/_redshirt/metrics`)).text.split("\n").find((l) => l.startsWith(name));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

const arrivalsOf = (tag: string): Arrival[] => cluster.arrivals.filter((a) => a.tag === tag);

async function allHealthy(): Promise<void> {
  const ok = await waitFor(async () => {
    const h = JSON.parse((await get(`${url}/_redshirt/healthz`)).text) as { healthyInstances: number };
    return h.healthyInstances === 3;
  }, 5_000);
  assert.ok(ok >= 0, "all instances healthy again");
}

/** Sends a slow POST, kills the instance it reached once it arrived, and returns the response. */
async function postAndKillReceiver(tag: string, headers: Record<string, string>, body: string | Buffer) {
  const response = fetch(`${url}/orders?delayMs=1500`, {
    method: "POST",
    headers: { "x-test-tag": tag, ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const seen = await waitFor(() => arrivalsOf(tag).length > 0, 5_000);
  assert.ok(seen >= 0, "the POST reached an instance");
  const receiver = arrivalsOf(tag)[0].id;
  cluster.kill(receiver);
  const r = await response;
  const text = await r.text();
  await sleep(300);
  await cluster.startApp("u", Number(receiver.slice(-1)));
  await allHealthy();
  return { status: r.status, text, receiver };
}

test("gateway - an unsafe POST that reached a dying instance is not retried: 502, one arrival", async () => {
  const denied = 'rs_gateway_retries_denied_total{reason="unsafe"}';
  const deniedBefore = await counter(denied);
  const r = await postAndKillReceiver("order-1", { "content-type": "application/json" }, '{"item":"boots"}');
  assert.equal(r.status, 502);
  assert.equal((await counter(denied)) - deniedBefore, 1, "the gateway counted the POST as denied: unsafe");
  assert.match(r.text, /RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_FAILED/);
  assert.equal(arrivalsOf("order-1").length, 1, "the app log shows exactly one arrival");
});

test("gateway - the same POST with an Idempotency-Key is retried on another instance", async () => {
  const r = await postAndKillReceiver("order-2", { "idempotency-key": "k-2" }, '{"item":"boots"}');
  assert.equal(r.status, 200);
  const answered = (JSON.parse(r.text) as { instance: string }).instance;
  assert.notEqual(answered, r.receiver);
  assert.deepEqual(
    arrivalsOf("order-2")
      .map((a) => a.id)
      .sort(),
    [r.receiver, answered].sort(),
  );
});

test("gateway - a keyed request whose body is too large to hold is not retried", async () => {
  const big = Buffer.alloc(100 * 1024, 120);
  const r = await postAndKillReceiver("order-3", { "idempotency-key": "k-3" }, big);
  assert.equal(r.status, 502);
  assert.equal(arrivalsOf("order-3").length, 1);
});

test("gateway - a POST whose connect was refused never left the gateway and is retried", async () => {
  const refusedRetries = 'rs_gateway_retries_total{reason="connect-refused"}';
  const deniedUnsafe = 'rs_gateway_retries_denied_total{reason="unsafe"}';
  const retriesBefore = await counter(refusedRetries);
  // Whether a POST meets the dead instance before the gateway ejects it is a race (a health
  // probe may come first), so the scenario runs until one does, a bounded number of times.
  let round = 0;
  for (; round < 5 && (await counter(refusedRetries)) === retriesBefore; round++) {
    if (round > 0) {
      await cluster.startApp("u", 2);
      await allHealthy();
    }
    const before = cluster.arrivals.length;
    const deniedBefore = await counter(deniedUnsafe);
    cluster.kill("u-app2");
    // Long enough for the gateway to see the dead instance's idle connections close (so no
    // POST is sent on one), short enough that an active health check rarely ejects it first.
    await sleep(20);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const tag = `refused-${round}-${i}`;
      const r = await fetch(`${url}/orders`, { method: "POST", headers: { "x-test-tag": tag }, body: "x" });
      await r.arrayBuffer();
      statuses.push(r.status);
    }
    // A refused connect never left the gateway: never a 503. Under load the gateway may not
    // yet have read the dead instance's FIN on an idle socket and write a POST on it; the
    // reset then may follow the app's read, so that POST is rightly not retried (502, one
    // "unsafe" denial each, never seen by an app). Every other POST is answered once.
    const failed = statuses.filter((s) => s !== 200);
    assert.ok(
      failed.every((s) => s === 502),
      `only 200 or 502, got ${statuses.join(",")}`,
    );
    assert.equal((await counter(deniedUnsafe)) - deniedBefore, failed.length, "each 502 is an unsafe denial");
    for (let i = 0; i < 20; i++) {
      const arrived = arrivalsOf(`refused-${round}-${i}`).length;
      assert.equal(arrived, statuses[i] === 200 ? 1 : 0, `POST ${i} (${statuses[i]}) arrived ${arrived} times`);
    }
    assert.equal(cluster.arrivals.length - before, statuses.length - failed.length);
  }
  assert.ok((await counter(refusedRetries)) > retriesBefore, `no refused connect was retried in ${round} rounds`);
});
