// The per-site supervisor with real processes: a one-site planet (store, 2 apps, gateway,
// DNS) under `redshirt supervise`. A SIGKILLed instance of every tier is replaced within
// 2 s; a SIGKILLed supervisor's successor adopts every instance (same pids, none
// duplicated, even one missing from its saved table); app scales 2→4→1 with the removed
// ones drained and gone cleanly while requests keep succeeding; `status --json` matches the
// processes; the control API refuses a missing or wrong token and names bad fields.
// Addresses: 127.180.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { request } from "undici";
import {
  callControl,
  type DnsWeightsAnswer,
  isSiteInstance,
  ownedProcesses,
  planetDataDir,
  type SiteStatus,
  stateFilePath,
  supervisorDir,
  type WanAnswer,
} from "../src/cattle/index.ts";
import { controlBearerToken, type Launched, nodeBin } from "../src/core/index.ts";
import { createStoreClient } from "../src/store/index.ts";
import {
  cleanup,
  cliMain,
  pidAlive,
  startSupervisor,
  type TestPlanet,
  waitStatus,
  writePlanet,
} from "./support/supervised.ts";

const site = "a";
const tp: TestPlanet = writePlanet(
  "redshirt-supervisor-",
  `name: suptest
zone: sup.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.180.0.0/16, tiers: { store: 1, app: 2, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
`,
);
const control = tp.planet.supervisors[0];
const controlUrl = `http://${control.host}:${control.port}`;
const gateway = tp.planet.gateways[0];
let sup: Launched | undefined;

const allReady = (s: SiteStatus) => s.ready && s.instances.every((r) => r.state === "ready");
const row = (s: SiteStatus, slot: string) => s.instances.find((r) => r.slot === slot);

before(async () => {
  sup = await startSupervisor(tp, site);
  await waitStatus(tp, site, allReady, 60_000, "every tier ready");
});

after(async () => {
  await cleanup(tp, [site], [sup]);
});

test("supervisor - SIGKILL of an instance of every tier is replaced within 2 s", async () => {
  const figures: string[] = [];
  for (const tier of ["store", "app", "gateway", "dns"] as const) {
    const s = await waitStatus(tp, site, allReady, 30_000, "ready before the kill");
    const victim = s.instances.find((r) => r.tier === tier && r.state === "ready")!;
    const t0 = performance.now();
    process.kill(victim.pid!, "SIGKILL");
    const started = await waitStatus(
      tp,
      site,
      (x) => {
        const r = row(x, victim.slot);
        return r?.pid != null && r.pid !== victim.pid && pidAlive(r.pid);
      },
      5_000,
      `${tier} replacement started`,
    );
    const startedMs = performance.now() - t0;
    const ready = await waitStatus(
      tp,
      site,
      (x) => row(x, victim.slot)?.state === "ready" && row(x, victim.slot)?.pid !== victim.pid,
      20_000,
      `${tier} replacement ready`,
    );
    const readyMs = performance.now() - t0;
    const r = row(ready, victim.slot)!;
    figures.push(
      `${tier.padEnd(7)} replacement started ${startedMs.toFixed(0)} ms, ready ${readyMs.toFixed(0)} ms after SIGKILL (supervisor: death to ready ${r.lastReplaceMs} ms)`,
    );
    assert.ok(startedMs <= 2_000, `${tier}: started after ${startedMs} ms`);
    assert.equal(row(started, victim.slot)?.restarts, victim.restarts + 1);
    assert.equal(r.lastExit?.how, "killed by SIGKILL");
    // Apps get a fresh identity; store nodes, gateways and DNS keep their planet slot.
    if (tier === "app") assert.notEqual(r.id, victim.id);
    else assert.equal(r.id, victim.id);
    assert.equal(r.address, victim.address);
  }
  console.log(`measured:\n  ${figures.join("\n  ")}`);
});

test("supervisor - a supervisor SIGKILLed and restarted adopts its instances: same pids, no duplicates", async () => {
  const before = await waitStatus(tp, site, allReady, 30_000, "ready");
  const pids = new Map(before.instances.map((r) => [r.slot, r.pid]));
  sup!.kill("SIGKILL");
  await sup!.exited;
  // As if it died between starting app#2 and saving its table: the successor must find
  // that instance by its owner tag in /proc, not start a second one.
  const file = stateFilePath(supervisorDir(planetDataDir(tp.planet), site));
  const saved = JSON.parse(readFileSync(file, "utf8"));
  saved.instances = saved.instances.filter((i: { slot: string }) => i.slot !== "app#2");
  writeFileSync(file, JSON.stringify(saved));
  for (const pid of pids.values()) assert.ok(pidAlive(pid!), "instances outlive their supervisor");
  sup = await startSupervisor(tp, site);
  const afterAdopt = await waitStatus(tp, site, allReady, 30_000, "ready after adoption");
  assert.equal(afterAdopt.supervisor.adopted, pids.size);
  for (const r of afterAdopt.instances) {
    assert.equal(r.pid, pids.get(r.slot), `${r.slot} kept its process`);
    assert.ok(r.adopted, `${r.slot} adopted`);
  }
  assert.equal(ownedProcesses(tp.planet, site).length, pids.size, "no duplicate started");
  // An adopted instance is not the new supervisor's child: its death is seen by polling.
  const victim = afterAdopt.instances.find((r) => r.tier === "app")!;
  const t0 = performance.now();
  process.kill(victim.pid!, "SIGKILL");
  await waitStatus(
    tp,
    site,
    (x) => row(x, victim.slot)?.pid != null && row(x, victim.slot)?.pid !== victim.pid,
    5_000,
    "adopted app replaced",
  );
  const ms = performance.now() - t0;
  console.log(`measured: adopted app replacement started ${ms.toFixed(0)} ms after SIGKILL`);
  assert.ok(ms <= 2_000, `replacement of an adopted instance started after ${ms} ms`);
  await waitStatus(tp, site, allReady, 20_000, "ready again");
});

async function metric(name: string): Promise<number> {
  // The metrics route answers Prometheus text; the client hands back the text as is.
  const text = await callControl<string>({ host: control.host, port: control.port, site }, tp.ctl.secret, "metrics");
  let sum = 0;
  for (const line of text.split("\n")) if (line.startsWith(name)) sum += Number(line.split(" ").at(-1));
  return sum;
}

test("supervisor - scale app 2→4→1: the new ones become ready, the removed ones drain and leave cleanly", async () => {
  const scale = (count: number) =>
    callControl({ host: control.host, port: control.port, site }, tp.ctl.secret, "scale", {
      params: { tier: "app" },
      body: { count },
    });
  await scale(4);
  const four = await waitStatus(
    tp,
    site,
    (s) => s.tiers.find((t) => t.tier === "app")?.ready === 4 && allReady(s),
    30_000,
    "4 apps ready",
  );
  const apps = four.instances.filter((r) => r.tier === "app");
  assert.equal(new Set(apps.map((r) => r.address)).size, 4, "each app its own pool address");
  const drainsBefore = await metric('redshirt_supervisor_drains_total{how="confirmed"}');
  // Requests keep flowing through the gateway while three instances leave.
  let sent = 0;
  const failures: string[] = [];
  let loading = true;
  const load = (async () => {
    while (loading) {
      sent++;
      try {
        const res = await request(`http://${gateway.host}:${gateway.port}/`, { headersTimeout: 5_000 });
        if (res.statusCode !== 200) failures.push(`${res.statusCode} ${await res.body.text()}`);
        else await res.body.dump();
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  })();
  await scale(1);
  const one = await waitStatus(
    tp,
    site,
    (s) => {
      const t = s.tiers.find((x) => x.tier === "app");
      return t?.running === 1 && t.ready === 1;
    },
    40_000,
    "down to 1 app",
  );
  loading = false;
  await load;
  const kept = one.instances.filter((r) => r.tier === "app");
  assert.equal(kept.length, 1);
  const removed = apps.filter((r) => r.pid !== kept[0].pid);
  assert.equal(removed.length, 3);
  for (const r of removed) assert.ok(!pidAlive(r.pid!), `${r.id} gone`);
  assert.deepEqual(failures, [], `${failures.length} of ${sent} requests failed during the scale-down`);
  assert.equal(
    (await metric('redshirt_supervisor_drains_total{how="confirmed"}')) - drainsBefore,
    3,
    "three drains, each confirmed by the gateway (out of rotation, nothing in flight) before SIGTERM",
  );
  const drainMs =
    (await metric("redshirt_supervisor_drain_ms_sum")) / (await metric("redshirt_supervisor_drain_ms_count"));
  assert.equal(await metric("redshirt_supervisor_kills_after_grace_total"), 0, "every one left on SIGTERM");
  assert.equal(await metric("redshirt_supervisor_drain_mark_failures_total"), 0);
  // Each was marked in the drain set, and forgotten once gone.
  const store = createStoreClient({ planet: tp.planet, site });
  const drainSet = await store.get(`_rs/drain/${site}`, { consistency: "local-one" });
  const members = drainSet.exists ? (drainSet.value as string[]) : [];
  assert.deepEqual(
    members.filter((m) => removed.some((r) => r.id === m)),
    [],
    "drained ids removed from the drain set",
  );
  const log = readFileSync(join(supervisorDir(planetDataDir(tp.planet), site), "logs", "app-1.log"), "utf8");
  assert.ok(log.length > 0, "instances write their output to their slot's log");
  console.log(
    `measured: ${sent} requests through the gateway during scale 4→1, ${failures.length} failed; drain mark to SIGTERM ${drainMs.toFixed(0)} ms on average`,
  );
  await scale(2);
  await waitStatus(tp, site, (s) => s.tiers.find((t) => t.tier === "app")?.ready === 2 && allReady(s), 30_000, "2");
});

test("supervisor - status --json matches the processes", async () => {
  await waitStatus(tp, site, allReady, 30_000, "ready");
  const out = spawnSync(nodeBin, [cliMain, "status", "--json", "--planet", tp.planetFile], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.equal(out.status, 0, out.stderr);
  const doc = JSON.parse(out.stdout) as { sites: (SiteStatus & { reachable: boolean })[] };
  const s = doc.sites[0];
  assert.equal(s.reachable, true);
  assert.equal(s.supervisor.pid, sup!.pid);
  for (const t of s.tiers) {
    const planned =
      t.tier === "wan"
        ? tp.planet.wanProcesses.filter((w) => w.site === site).length
        : tp.planet.sites[0].tiers[t.tier];
    assert.equal(t.desired, planned, `${t.tier} desired`);
    assert.equal(t.ready, s.instances.filter((r) => r.tier === t.tier && r.state === "ready").length);
  }
  // Beside the supervisors: the site weights each DNS server holds, and the WAN link processes' view.
  const net = doc as unknown as { dns: DnsWeightsAnswer[]; wan: WanAnswer };
  assert.deepEqual(
    net.dns.map((d) => (d.reachable ? d.weights : d.error)),
    [{ a: 100 }],
    "the DNS server's weights",
  );
  assert.equal(net.wan.emulated, tp.planet.wan.mode !== "direct");
  if (net.wan.emulated) assert.ok(net.wan.reachable, `the link processes answer: ${JSON.stringify(net.wan)}`);
  const owned = new Set(ownedProcesses(tp.planet, site));
  assert.equal(owned.size, s.instances.length);
  for (const r of s.instances) {
    assert.ok(isSiteInstance(tp.planet, site, r.pid!, r.id!), `${r.id}: pid ${r.pid} carries its identity`);
    assert.ok(owned.has(r.pid!));
    assert.ok(r.ageMs! >= 0 && r.ageMs! < 10 * 60_000);
  }
  for (const r of s.instances.filter((x) => x.tier === "app" || x.tier === "store")) {
    const res = await request(`http://${r.address}/healthz`);
    assert.equal(res.statusCode, 200, `${r.id} answers at ${r.address}`);
    await res.body.dump();
  }
});

test("control - refuses a missing or wrong token and names bad fields", async () => {
  const call = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
    const res = await request(`${controlUrl}${path}`, { method: method as "GET", headers, body });
    return { status: res.statusCode, body: (await res.body.json()) as { error?: { code: string; message: string } } };
  };
  const good = { authorization: `Bearer ${controlBearerToken(tp.ctl.secret)}` };
  const unauthorizedBefore = await metric("redshirt_supervisor_control_unauthorized_total");
  for (const headers of [
    {} as Record<string, string>,
    { authorization: "Bearer 00" },
    { authorization: `Bearer ${"ab".repeat(32)}` },
  ]) {
    for (const [method, path] of [
      ["GET", "/v1/status"],
      ["PUT", "/v1/tiers/app"],
      ["POST", "/v1/stop"],
    ]) {
      const r = await call(method, path, headers, method === "PUT" ? '{"count":0}' : undefined);
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.equal(r.body.error?.code, "RS_ERR_CATTLE_CONTROL_UNAUTHORIZED");
    }
  }
  assert.equal((await metric("redshirt_supervisor_control_unauthorized_total")) - unauthorizedBefore, 9);
  assert.equal((await call("GET", "/v1/status", good)).status, 200);
  const bad: [string, string, string | undefined, number, string, RegExp][] = [
    ["PUT", "/v1/tiers/cache", '{"count":1}', 400, "RS_ERR_CATTLE_CONTROL_UNKNOWN_TIER", /tier: "cache"/],
    ["PUT", "/v1/tiers/app", '{"count":-1}', 400, "RS_ERR_CATTLE_CONTROL_BAD_COUNT", /count: must be/],
    ["PUT", "/v1/tiers/app", '{"count":"two"}', 400, "RS_ERR_CATTLE_CONTROL_BAD_COUNT", /count: must be/],
    ["PUT", "/v1/tiers/app", "{}", 400, "RS_ERR_CATTLE_CONTROL_BAD_COUNT", /count/],
    ["PUT", "/v1/tiers/store", '{"count":2}', 400, "RS_ERR_CATTLE_CONTROL_BAD_COUNT", /maximum of 1/],
    ["PUT", "/v1/tiers/app", "{nope", 400, "RS_ERR_CATTLE_CONTROL_BAD_REQUEST", /not JSON/],
    ["GET", "/v1/nothing", undefined, 404, "RS_ERR_CATTLE_CONTROL_NOT_FOUND", /nothing/],
    ["DELETE", "/v1/status", undefined, 405, "RS_ERR_CATTLE_CONTROL_METHOD", /DELETE/],
  ];
  for (const [method, path, body, code, errCode, message] of bad) {
    const r = await call(method, path, good, body);
    assert.equal(r.status, code, `${method} ${path} ${body}`);
    assert.equal(r.body.error?.code, errCode);
    assert.match(r.body.error?.message ?? "", message);
  }
  assert.equal(await metric("redshirt_supervisor_control_failures_total"), 0, "no handler failed");
  assert.equal(await metric("redshirt_supervisor_persist_failures_total"), 0);
  assert.equal(await metric("redshirt_supervisor_spawn_failures_total"), 0);
});
