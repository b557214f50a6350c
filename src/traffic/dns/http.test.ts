// The DNS server's gateway probe over real sockets: it judges by the status code alone and
// never judges the body (it reads it to the end and throws it away), so a healthz body of
// any size (the gateway's once listed every instance: past ~32 of them it outgrew the 4 KiB
// the probe read, the probe failed, and a healthy site left DNS) cannot make a healthy
// gateway look down.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { systemClock } from "../../core/index.ts";
import type { NodeInfo } from "../../topology/index.ts";
import { gatewayHealthPath } from "./constants.ts";
import { httpProbe } from "./http.ts";

let status = 200;
let bodyBytes = 0;
let asked = 0;
/** Responses written to their end, and ones whose connection the client cut before that. */
let finished = 0;
let cut = 0;
const server = http.createServer((req, res) => {
  asked++;
  res.on("finish", () => finished++);
  res.on("close", () => {
    if (!res.writableFinished) cut++;
  });
  assert.equal(req.url, gatewayHealthPath);
  res.writeHead(status, { "content-type": "application/json" });
  res.end(Buffer.alloc(bodyBytes, 32));
});
let gateway: NodeInfo;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  gateway = { id: "g", site: "s", role: "gateway", index: 1, host: "127.0.0.1", port };
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("dns probe - 200 is up and 503 is down, whatever the size of the body", async () => {
  const probe = httpProbe(systemClock, undefined);
  for (const size of [0, 100, 4_096, 5_000, 64 * 1024, 4 * 1024 * 1024]) {
    bodyBytes = size;
    status = 200;
    assert.equal(await probe(gateway, 400), true, `200 with a ${size}-byte body`);
    status = 503;
    assert.equal(await probe(gateway, 400), false, `503 with a ${size}-byte body`);
  }
  assert.equal(asked, 12);
  // The verdict comes with the head, but the body is read to its end and thrown away: the
  // gateway sees a client that read its answer, never a reset in the middle of it.
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(cut, 0, "no response cut off");
  assert.equal(finished, 12);
});

test("dns probe - no answer within the timeout fails the probe (down)", async () => {
  const probe = httpProbe(systemClock, undefined);
  const silent = http.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as AddressInfo).port;
  try {
    const t0 = performance.now();
    await assert.rejects(probe({ ...gateway, port }, 200));
    assert.ok(performance.now() - t0 < 1_000);
  } finally {
    silent.closeAllConnections();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});
