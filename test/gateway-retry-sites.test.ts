// Idempotency-Key retries across sites, with real processes: a keyed POST that an app may
// have run (its connection reset) goes to another site only when its service says the app
// dedups through the store; for a service whose app dedups per site, the client gets the
// 502 and the other site never sees the request. A client that names the key in
// Connection (hop-by-hop) turns retries off for itself.
// Addresses: 127.210.0.0/16 and 127.211.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Cluster, get, rawExchange, splitResponses, waitFor } from "./support/gateway-cluster.ts";

const cluster = new Cluster(
  [
    { name: "a", subnet: "127.210", lat: 0, lon: 0, apps: 1 },
    { name: "b", subnet: "127.211", lat: 5, lon: 5, apps: 1 },
  ],
  {
    planetLines: [
      "services: [www, api]",
      "gateway:",
      "  services:",
      // www's app dedups keys per site; api's through the store, which every site reads.
      "    www: { idempotencyKeyRetries: true }",
      "    api: { idempotencyKeyRetries: true, appDedupsThroughStore: true }",
    ],
  },
);
const urlA = cluster.gatewayUrl("a");

before(async () => {
  await Promise.all(["a", "b"].map((s) => cluster.startApps(s)));
  await Promise.all(["a", "b"].map((s) => cluster.startGateway(s)));
  // a's only instance resets every app request while its health checks pass.
  await get("http://127.210.4.1:9000/control/reset?v=1");
  // a fails over only to a site it has seen healthy: wait until it has (slow on a loaded host).
  const bUp = async () =>
    /rs_gateway_target_up\{[^}]*site="b"[^}]*\} 1/.test((await get(`${urlA}/_redshirt/metrics`)).text);
  assert.ok((await waitFor(bUp, 20_000)) >= 0, "a sees site b up");
});
after(() => cluster.stop());

async function post(service: string, tag: string, connection = "close") {
  const { bytes } = await rawExchange(
    cluster.gatewayAddress("a"),
    `POST /orders HTTP/1.1\r\nHost: ${service}.gwtest.test:8080\r\nIdempotency-Key: k-${tag}\r\nX-Test-Tag: ${tag}\r\n` +
      `Content-Length: 1\r\nConnection: ${connection}\r\n\r\nx`,
    { quietMs: 3_000 },
  );
  const [r] = splitResponses(bytes);
  return { status: r.status, instance: /x-instance: (\S+)/i.exec(r.head)?.[1], text: r.body };
}

const arrivalsAt = (site: string, tag: string) =>
  cluster.arrivals.filter((x) => x.tag === tag && x.id.startsWith(`${site}-`)).length;

test("gateway retries - a keyed POST that may have run goes to another site only when the app dedups through the store", async () => {
  const api = await post("api", "api-1");
  assert.equal(api.status, 200, api.text);
  assert.equal(api.instance, "b-app1", "retried on the other site");
  assert.equal(arrivalsAt("b", "api-1"), 1);

  const www = await post("www", "www-1");
  assert.equal(www.status, 502, "a per-site dedup would apply it twice: not sent to b");
  assert.match(www.text, /RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_FAILED/);
  assert.equal(arrivalsAt("b", "www-1"), 0);
  const metrics = (await get(`${urlA}/_redshirt/metrics`)).text;
  assert.match(metrics, /rs_gateway_retries_denied_total\{reason="cross-site"\} 1/);
});

test("gateway retries - Connection: idempotency-key removes the key and leaves retries off", async () => {
  const r = await post("api", "hop-key", "close, idempotency-key");
  assert.equal(r.status, 502, "without the key the POST is unsafe: never sent again");
  assert.equal(arrivalsAt("b", "hop-key"), 0);
});
