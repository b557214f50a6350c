// Follow the sun's clock speed set at run time, with real supervisors over their control API:
// `PUT /v1/sun` checks its body naming the field; setSunSpeed sends one anchor to both sites
// of a two-site planet, so their simulated clocks agree and go on from where they stood; the
// local hour then moves at the new rate; a SIGKILLed supervisor keeps the clock (state file);
// `redshirt sun speed N` does the same from the command line; a planet without a sun section
// answers RS_ERR_CATTLE_CONTROL_NO_SUN.
// Addresses: 127.187.0.0/16 127.188.0.0/16 127.189.0.0/16 belong to this file.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, test } from "node:test";
import {
  clockSimMs,
  hourMs,
  loadState,
  planetDataDir,
  type SunClock,
  type SunView,
  setSunSpeed,
  stateFilePath,
  supervisorDir,
} from "../src/cattle/index.ts";
import { controlBearerToken, isRedshirtError, type Launched, nodeBin } from "../src/core/index.ts";
import {
  cleanup,
  cliMain,
  startSupervisor,
  status,
  type TestPlanet,
  waitStatus,
  writePlanet,
} from "./support/supervised.ts";

const tiers = "tiers: { store: 1, app: 1, gateway: 1, dns: 0 }";
const sunPlanet: TestPlanet = writePlanet(
  "redshirt-sunspeed-",
  `name: sunspeed
zone: sunspeed.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.187.0.0/16, ${tiers} }
  - { name: b, city: B, lat: 10, lon: 90, subnet: 127.188.0.0/16, ${tiers} }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
sun:
  peakInstances: 1
  minInstances: 1
  clockSpeed: 1
  shiftHours: 5
  curve:
    - { hour: 0, share: 1 }
`,
);
const plainPlanet: TestPlanet = writePlanet(
  "redshirt-nosun-",
  `name: nosun
zone: nosun.test.
sites:
  - { name: c, city: C, lat: 0, lon: 0, subnet: 127.189.0.0/16, ${tiers} }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
`,
);
const sups = new Map<string, Launched>();

before(async () => {
  const [a, b, c] = await Promise.all([
    startSupervisor(sunPlanet, "a"),
    startSupervisor(sunPlanet, "b"),
    startSupervisor(plainPlanet, "c"),
  ]);
  sups.set("a", a).set("b", b).set("c", c);
});

after(async () => {
  await Promise.all([
    cleanup(sunPlanet, ["a", "b"], [sups.get("a"), sups.get("b")]),
    cleanup(plainPlanet, ["c"], [sups.get("c")]),
  ]);
});

async function putSun(tp: TestPlanet, site: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const s = tp.planet.supervisors.find((x) => x.site === site)!;
  const res = await fetch(`http://${s.host}:${s.port}/v1/sun`, {
    method: "PUT",
    headers: { authorization: `Bearer ${controlBearerToken(tp.ctl.secret)}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

function clockOf(s: SunView): SunClock {
  return { clockSpeed: s.clockSpeed, anchorRealMs: s.anchorRealMs, anchorSimMs: s.anchorSimMs };
}

async function sunOf(site: string): Promise<SunView> {
  const s = (await status(sunPlanet, site)).sun;
  assert.ok(s, `${site} shows its sun`);
  return s;
}

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(nodeBin, [cliMain, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c) => {
      out += c;
    });
    child.stderr.on("data", (c) => {
      err += c;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

test("sun speed - a bad PUT /v1/sun is a 400 naming the field; the clock is left as it was", async () => {
  const before = await sunOf("a");
  assert.equal(before.clockSpeed, 1, "the planet file's speed");
  const bad: [unknown, RegExp][] = [
    [{}, /clockSpeed: a number above 0/],
    [{ clockSpeed: 0 }, /clockSpeed/],
    [{ clockSpeed: -60 }, /clockSpeed/],
    [{ clockSpeed: "fast" }, /clockSpeed/],
    [{ clockSpeed: 1e9 }, /clockSpeed: .*at most 10000/],
    [{ clockSpeed: null }, /clockSpeed/],
    [[60], /JSON object/],
    [{ clockSpeed: 60, anchorRealMs: Date.now() / 1000, anchorSimMs: 0 }, /anchorRealMs: .*within 60 min/],
    [{ clockSpeed: 60, anchorRealMs: Date.now() }, /anchorSimMs/],
  ];
  for (const [body, message] of bad) {
    const r = await putSun(sunPlanet, "a", body);
    assert.equal(r.status, 400, JSON.stringify(body));
    const e = (r.body as { error: { code: string; message: string } }).error;
    assert.equal(e.code, "RS_ERR_CATTLE_CONTROL_BAD_REQUEST");
    assert.match(e.message, message, JSON.stringify(body));
  }
  assert.deepEqual(clockOf(await sunOf("a")), clockOf(before), "nothing changed");
});

test("sun speed - one anchor on every site: the clocks agree, go on from where they stood, and run at the new rate", async () => {
  const old = clockOf(await sunOf("a"));
  const out = await setSunSpeed(sunPlanet.ctl, 3600);
  assert.deepEqual(
    out.sites.map((s) => [s.site, s.ok]),
    [
      ["a", true],
      ["b", true],
    ],
  );
  // Continuity: at the moment of the change the new clock shows what the old one showed.
  assert.ok(Math.abs(out.clock.anchorSimMs - clockSimMs(old, out.clock.anchorRealMs)) < 1e-3, JSON.stringify(out));
  const [a, b] = [await sunOf("a"), await sunOf("b")];
  assert.deepEqual(clockOf(a), out.clock, "site a runs the clock sent");
  assert.deepEqual(clockOf(b), out.clock, "site b runs the same clock");
  // The local hour moves at 3600×: about an hour per real second (the decision is latched
  // once per reconcile tick, so allow a tick's worth either way).
  const t0 = Date.now();
  const h0 = a.localHour;
  const sim0 = a.simUtcMs;
  await new Promise((r) => setTimeout(r, 3_000));
  const a2 = await sunOf("a");
  const realS = (Date.now() - t0) / 1000;
  const hours = (((a2.localHour - h0) % 24) + 24) % 24;
  assert.ok(Math.abs(hours - realS) < 1.5, `local hour moved ${hours.toFixed(2)} h in ${realS.toFixed(2)} s`);
  assert.ok(Math.abs((a2.simUtcMs - sim0) / hourMs - hours) < 0.01, "simUtcMs and localHour agree");
  // Slowing down again continues from the fast clock, on both sites.
  const slow = await setSunSpeed(sunPlanet.ctl, 60);
  assert.ok(Math.abs(slow.clock.anchorSimMs - clockSimMs(out.clock, slow.clock.anchorRealMs)) < 1e-3);
  assert.deepEqual(clockOf(await sunOf("b")), slow.clock);
  // Sites a (lon 0) and b (lon 90) read the same simulated time: six hours apart locally.
  const [la, lb] = [(await sunOf("a")).localHour, (await sunOf("b")).localHour];
  assert.ok(Math.abs(((((lb - la) % 24) + 24) % 24) - 6) < 0.1, `local hours ${la} and ${lb}`);
});

test("sun speed - a supervisor SIGKILLed and started again keeps the clock set at run time", async () => {
  const set = clockOf(await sunOf("a"));
  assert.equal(set.clockSpeed, 60, "the clock the previous test left");
  const saved = loadState(stateFilePath(supervisorDir(planetDataDir(sunPlanet.planet), "a")));
  assert.deepEqual(saved?.sunClock, set, "the state file holds it");
  const old = sups.get("a")!;
  old.kill("SIGKILL");
  await old.exited;
  sups.set("a", await startSupervisor(sunPlanet, "a"));
  const after = await waitStatus(sunPlanet, "a", (s) => s.sun !== null, 30_000, "restarted");
  assert.ok(after.sun);
  assert.deepEqual(clockOf(after.sun), set);
});

test("sun speed - `redshirt sun speed N` sets every site; a bad N is named; a planet without a sun is refused", async () => {
  const ok = await cli(["sun", "speed", "720", "--planet", sunPlanet.planetFile]);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /sun clock ×720 from .* UTC \(simulated\)/);
  assert.match(ok.out, /a: ×720/);
  assert.match(ok.out, /b: ×720/);
  assert.equal((await sunOf("a")).clockSpeed, 720);
  assert.deepEqual(clockOf(await sunOf("a")), clockOf(await sunOf("b")));
  const shown = await cli(["sun", "--planet", sunPlanet.planetFile]);
  assert.equal(shown.code, 0, shown.err);
  assert.match(shown.out, /^sun clock ×720 /);
  assert.match(shown.out, /a: ×720, simulated \d{4}-\d\d-\d\d \d\d:\d\d UTC, local/);
  assert.match(shown.out, /b: ×720, simulated/);
  const bad = await cli(["sun", "speed", "0", "--planet", sunPlanet.planetFile]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.err, /RS_ERR_CLI_USAGE.*N: a number above 0/);
  // No sun section: the supervisor refuses with a registered code, and so does the operation.
  const r = await putSun(plainPlanet, "c", { clockSpeed: 60 });
  assert.equal(r.status, 409);
  assert.equal((r.body as { error: { code: string } }).error.code, "RS_ERR_CATTLE_CONTROL_NO_SUN");
  await assert.rejects(setSunSpeed(plainPlanet.ctl, 60), (e) => isRedshirtError(e, "RS_ERR_CATTLE_CONTROL_NO_SUN"));
  const none = await cli(["sun", "speed", "60", "--planet", plainPlanet.planetFile]);
  assert.notEqual(none.code, 0);
  assert.match(none.err, /RS_ERR_CATTLE_CONTROL_NO_SUN/);
});
