// Chaos with real processes: two sites (a supervisor each, the WAN emulated: a link process
// per site, a store node, an app, a gateway and a DNS server each). Every fault carries a
// TTL and is reverted by the party that holds it, not by whoever asked: a partition injected
// by a monkey that is then SIGKILLed heals itself at its TTL; a killed site stays down (no
// process of it runs although its supervisor normally restarts everything) until its TTL,
// then comes back serving with its disk (same incarnation, data read back); a pause is
// reverted by the supervisor restarted after it expired; a store node rebuilt from an empty
// disk comes back as a new incarnation with every acknowledged write; a clock skew reverts
// itself in the node. Addresses: 127.104.0.0/16 – 127.105.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { request } from "undici";
import type { SiteStatus } from "../src/cattle/index.ts";
import { createChaos } from "../src/chaos/index.ts";
import { controlBearerToken, type Launched, nodeBin } from "../src/core/index.ts";
import { WanAdminClient } from "../src/wan/index.ts";
import {
  cleanup,
  cliMain,
  pidAlive,
  startSupervisor,
  status,
  type TestPlanet,
  waitStatus,
  writePlanet,
} from "./support/supervised.ts";

const sites = ["a", "b"] as const;
const tp: TestPlanet = writePlanet(
  "redshirt-chaos-",
  `name: chaostest
zone: chaos.test.
sites:
  - { name: a, city: A, lat: 50, lon: 0, subnet: 127.104.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: b, city: B, lat: 45, lon: 10, subnet: 127.105.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: emulated, jitterMs: 0 }
`,
);
const { planet } = tp;
const supervisors = new Map<string, Launched>();
const chaos = createChaos({ planet, secret: tp.ctl.secret, timeoutMs: 5_000 });
const wan = new WanAdminClient({ planet, secret: tp.ctl.secret });
const token = controlBearerToken(tp.ctl.secret);
const storeOf = (site: string) => planet.storeNodes.find((n) => n.site === site)!;
const storeUrl = (site: string) => `http://${storeOf(site).host}:${storeOf(site).port}`;
const allReady = (s: SiteStatus) => s.ready && s.instances.every((r) => r.state === "ready");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, timeoutMs: number, ok: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  while (!(await ok().catch(() => false))) {
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - started;
}

async function put(site: string, key: string, value: string, consistency: string): Promise<number> {
  const res = await request(`${storeUrl(site)}/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`, {
    method: "PUT",
    headers: { "content-type": "application/json", "idempotency-key": `op-${key}`, "rs-timeout-ms": "3000" },
    body: JSON.stringify({ value }),
    headersTimeout: 8_000,
    bodyTimeout: 8_000,
  });
  await res.body.text();
  return res.statusCode;
}

async function get(site: string, key: string): Promise<unknown> {
  const res = await request(`${storeUrl(site)}/v1/kv/${encodeURIComponent(key)}?consistency=local-one`);
  const body = (await res.body.json()) as { exists?: boolean; value?: unknown };
  return body.exists ? body.value : undefined;
}

async function health(site: string): Promise<{ incarnation?: { phase: string; id: string } }> {
  const res = await request(`${storeUrl(site)}/healthz`);
  return (await res.body.json()) as { incarnation?: { phase: string; id: string } };
}

function procState(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return text.slice(text.lastIndexOf(")") + 2).split(" ")[0];
}

async function metric(site: string, name: string): Promise<number> {
  const s = planet.supervisors.find((x) => x.site === site)!;
  const res = await request(`http://${s.host}:${s.port}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.body.text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "gm"))) total += Number(m[1]);
  return total;
}

before(async () => {
  for (const s of sites) supervisors.set(s, await startSupervisor(tp, s));
  for (const s of sites) await waitStatus(tp, s, allReady, 120_000, `${s} ready`);
});

after(async () => {
  await chaos.close();
  await wan.close();
  await cleanup(tp, sites, [...supervisors.values()]);
});

test("chaos - a partition with a TTL heals itself after the process that injected it was SIGKILLed", async () => {
  const monkey = spawn(
    nodeBin,
    [
      cliMain,
      "chaos",
      "monkey",
      "--planet",
      tp.planetFile,
      "--kinds",
      "partition",
      "--rate",
      "600",
      "--ttl",
      "4s",
      "--seed",
      "7",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  monkey.stdout.on("data", (d) => {
    out += d;
  });
  monkey.stderr.on("data", (d) => {
    out += d;
  });
  try {
    await until("the monkey injects a partition", 30_000, async () => out.includes('"type":"fault"')).catch((err) =>
      assert.fail(`${err.message}; its output:\n${out}`),
    );
  } finally {
    monkey.kill("SIGKILL");
  }
  const injectedAt = Date.now();
  const record = JSON.parse(out.split("\n").find((l) => l.includes('"type":"fault"'))!);
  assert.equal(record.kind, "partition");
  assert.equal(record.ttlMs, 4_000);
  const cut = async () =>
    (await wan.allLinks())
      .filter((l) => l.cut)
      .map((l) => `${l.from}->${l.to}`)
      .sort();
  assert.deepEqual(await cut(), ["a->b", "b->a"], "both directions cut");
  const listed = await chaos.list();
  assert.deepEqual(
    listed.faults.map((f) => [f.id, f.kind]),
    [[record.id, "partition"]],
    "chaos list shows the partition once",
  );
  await until("the links heal themselves", 10_000, async () => (await cut()).length === 0);
  const healedAfterMs = Date.now() - injectedAt;
  console.log(`# partition held ${healedAfterMs} ms after its injector died (ttl 4000 ms)`);
  assert.ok(healedAfterMs >= 3_000, `healed too early: ${healedAfterMs} ms`);
  assert.equal((await wan.allLinks()).filter((l) => l.fault).length, 0, "no link holds a fault any more");
});

test("chaos - a killed site stays down until its TTL, then comes back serving with its disk", async () => {
  // Right after the partition healed the store's links may still be reconnecting: retried
  // with the same idempotency key until acknowledged.
  await waitStatus(tp, "b", allReady, 60_000, "b ready");
  await until(
    "a global write is acknowledged",
    30_000,
    async () => (await put("a", "site-key", "before-kill", "global")) === 200,
  );
  const before = await health("b");
  const pidsBefore = (await status(tp, "b")).instances.flatMap((r) => (r.pid ? [r.pid] : []));
  assert.equal(pidsBefore.length, 5, "wan, store, app, gateway, dns");
  const fault = await chaos.inject({ kind: "kill-site", site: "b", ttlMs: 8_000 });
  const injectedAt = Date.now();
  assert.equal(fault.kind, "kill-site");
  assert.deepEqual(fault.target, { site: "b" });
  await until("every process of b is gone", 5_000, async () => pidsBefore.every((p) => !pidAlive(p)));
  assert.deepEqual(
    (await status(tp, "b")).faults.map((f) => [f.id, f.kind]),
    [[fault.id, "kill-site"]],
    "status shows the fault the site holds",
  );
  // Held down: the supervisor, which normally replaces every death at once, starts nothing.
  while (Date.now() - injectedAt < 6_000) {
    const s = await status(tp, "b");
    assert.deepEqual(
      s.tiers.map((t) => t.running),
      [0, 0, 0, 0, 0],
      `b runs something during the kill: ${JSON.stringify(s.tiers)}`,
    );
    await sleep(250);
  }
  const backMs = await until("b is serving again", 90_000, async () => allReady(await status(tp, "b")));
  const upAfterMs = Date.now() - injectedAt;
  console.log(`# site b down for ${upAfterMs} ms (ttl 8000 ms), ready ${backMs} ms after the TTL check began`);
  assert.ok(upAfterMs >= 7_500, `b came back before its TTL: ${upAfterMs} ms`);
  assert.equal((await health("b")).incarnation?.id, before.incarnation?.id, "b's store came back on its own disk");
  await until(
    "b reads the write made before the kill",
    20_000,
    async () => (await get("b", "site-key")) === "before-kill",
  );
  const gw = planet.gateways.find((g) => g.site === "b")!;
  const res = await request(`http://${gw.host}:${gw.port}/_redshirt/livez`);
  await res.body.text();
  assert.equal(res.statusCode, 200, "b's gateway answers");
  const list = await chaos.list();
  assert.ok(!list.faults.some((f) => f.id === fault.id), "the fault ended");
});

test("chaos - a pause that expired while its supervisor was dead is reverted by the restarted supervisor", async () => {
  const gwSlot = planet.gateways.find((g) => g.site === "a")!.id;
  const row = (await status(tp, "a")).instances.find((r) => r.slot === gwSlot)!;
  const pid = row.pid!;
  await chaos.inject({ kind: "pause", site: "a", slot: gwSlot, ttlMs: 3_000 });
  assert.equal(procState(pid), "T", "the gateway is stopped");
  const sup = supervisors.get("a")!;
  sup.kill("SIGKILL");
  await sup.exited;
  await sleep(4_000);
  assert.equal(procState(pid), "T", "nobody but the supervisor reverts it");
  supervisors.set("a", await startSupervisor(tp, "a"));
  await until("the restarted supervisor sends SIGCONT", 10_000, async () => procState(pid) !== "T");
  const after = await waitStatus(tp, "a", allReady, 60_000, "a ready again");
  assert.equal(after.instances.find((r) => r.slot === gwSlot)?.pid, pid, "the same gateway, adopted, not replaced");
  const faults = await request(`http://${planet.supervisors[0].host}:${planet.supervisors[0].port}/v1/faults`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const body = (await faults.body.json()) as { active: unknown[]; ended: { kind: string; reason: string }[] };
  assert.equal(body.active.length, 0);
  assert.ok(
    body.ended.some((f) => f.kind === "pause" && f.reason === "ttl"),
    JSON.stringify(body.ended),
  );
});

test("chaos - a store node rebuilt from an empty disk comes back with every acknowledged write; a clock skew reverts itself", async () => {
  const acked = new Map<string, string>();
  for (let i = 0; i < 30; i++)
    if ((await put("a", `before-${i}`, `v${i}`, "global")) === 200) acked.set(`before-${i}`, `v${i}`);
  assert.equal(acked.size, 30);
  const old = await health("a");
  const fault = await chaos.inject({ kind: "empty-disk", node: storeOf("a").id, ttlMs: 3_000 });
  assert.equal(fault.kind, "empty-disk");
  assert.equal(fault.target.site, "a");
  // While it is down, writes go on in b.
  for (let i = 0; i < 20; i++) {
    if ((await put("b", `during-${i}`, `w${i}`, "local-quorum")) === 200) acked.set(`during-${i}`, `w${i}`);
  }
  assert.equal(acked.size, 50);
  await until("the rebuilt node is sound", 90_000, async () => {
    const h = await health("a");
    return h.incarnation?.phase === "sound" && h.incarnation.id !== old.incarnation?.id;
  });
  const missing: string[] = [];
  await until("every acknowledged write is on the rebuilt node", 30_000, async () => {
    missing.length = 0;
    for (const [k, v] of acked) if ((await get("a", k)) !== v) missing.push(k);
    return missing.length === 0;
  }).catch((err) => assert.fail(`${err.message}; missing: ${missing.join(", ")}`));

  const skew = await chaos.inject({ kind: "clock-skew", node: storeOf("a").id, offsetMs: 30_000, ttlMs: 2_000 });
  assert.match(skew.detail ?? "", /offsetMs=30000/);
  const view = async () => {
    const res = await request(`${storeUrl("a")}/v1/admin/clock-skew`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await res.body.json()) as { skew: { offsetMs: number } }).skew.offsetMs;
  };
  assert.equal(await view(), 30_000);
  const unauth = await request(`${storeUrl("a")}/v1/admin/clock-skew`, { method: "POST", body: "{}" });
  await unauth.body.text();
  assert.equal(unauth.statusCode, 401, "the skew route needs the control token");
  await until("the node reverts its skew", 6_000, async () => (await view()) === 0);
  for (const s of sites) {
    assert.equal(await metric(s, "redshirt_supervisor_fault_failures_total"), 0, `${s} fault failures`);
    assert.equal(await metric(s, "redshirt_supervisor_control_failures_total"), 0, `${s} control failures`);
  }
});
