// The supervisor's engine on a manual clock, with an in-memory process table standing in for
// the OS (a TEST DOUBLE of ProcessHost only: spawn hands out pids, a signal ends the
// process, a test kills one when it likes) — for what real processes make slow or
// uncertain to show: boot order, the readiness deadline, the stable-minute reset of the
// back-off, which app slots a scale-down retires. Real processes: test/supervisor*.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, isRedshirtError, ManualClock, seededRandom } from "../../core/index.ts";
import { type Planet, parsePlanet } from "../../topology/index.ts";
import { hourMs, realMsAt, simulatedUtcMs, siteSun } from "../sun/policy.ts";
import type { DnsSteering } from "../sun/steering.ts";
import { readyTimeoutMsDefault, stableResetMs } from "./constants.ts";
import type { DrainGate } from "./drain.ts";
import type { ProcessHost } from "./host.ts";
import { SupervisorMetrics } from "./metrics.ts";
import type { ProbeTarget } from "./probes.ts";
import type { ExitInfo } from "./processes.ts";
import type { PersistedState } from "./state-file.ts";
import { Supervisor } from "./supervisor.ts";

const basePlanet = parsePlanet(
  `name: engine
zone: engine.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.99.0.0/16, tiers: { store: 2, app: 3, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1 }
# No WAN tier here: these tests pin the order of the tiers the planet file counts.
wan: { mode: direct }
`,
);

type Proc = {
  pid: number;
  tier: string;
  id: string;
  version: string;
  host: string;
  alive: boolean;
  exit: (e: ExitInfo) => void;
  signals: string[];
};

function rig(
  options: {
    readyWhen?: (t: ProbeTarget) => boolean;
    crashVersion?: string;
    planet?: Planet;
    steering?: DnsSteering;
    startMs?: number;
  } = {},
) {
  const planet = options.planet ?? basePlanet;
  const clock = new ManualClock(options.startMs);
  const procs: Proc[] = [];
  /** What the engine did, in order: drain marks, signals, unmarks. */
  const events: string[] = [];
  let nextPid = 1000;
  const host: ProcessHost = {
    spawn(req) {
      const pid = nextPid++;
      let exit: (e: ExitInfo) => void = () => {};
      const exited = new Promise<ExitInfo>((r) => {
        exit = r;
      });
      const p: Proc = {
        pid,
        tier: String(req.env.REDSHIRT_TIER),
        id: String(req.env.REDSHIRT_INSTANCE_ID),
        version: String(req.env.REDSHIRT_VERSION),
        host: String(req.env.HOST),
        alive: true,
        exit,
        signals: [],
      };
      procs.push(p);
      // A broken version dies before it ever answers.
      if (p.version === options.crashVersion) setImmediate(() => kill(p, "exit"));
      return { pid, startTicks: pid, exited };
    },
    watch: () => ({ exited: new Promise(() => {}), cancel() {} }),
    isSame: (pid) => procs.some((p) => p.pid === pid && p.alive),
    scan: () => [],
    signal(pid, _identity, signal) {
      const p = procs.find((x) => x.pid === pid && x.alive);
      if (!p) return false;
      p.signals.push(signal);
      events.push(`${signal} ${p.id}`);
      kill(p, signal);
      return true;
    },
    tail: () => "",
  };
  function kill(p: Proc, signal = "SIGKILL"): void {
    p.alive = false;
    p.exit({ code: null, signal, known: true });
  }
  const drain: DrainGate = {
    mark: async (id) => {
      events.push(`mark ${id}`);
    },
    check: async () => ({ done: true, verdicts: {} }),
    unmark: async (id) => {
      events.push(`unmark ${id}`);
    },
  };
  let saved: PersistedState | undefined;
  const sup = new Supervisor(
    {
      planet,
      site: planet.sites[0],
      planetFile: "/x/planet.yaml",
      dir: "/x/supervisors/a",
      ownerTag: "test#a",
      nodeBin: "node",
      app: { entry: "/x/app.ts", version: "1", readyPath: "/healthz" },
      address: "127.99.6.1:7600",
      pid: 1,
    },
    {
      clock,
      random: seededRandom(7),
      log: createLogger({}, { write: () => {}, level: "error" }),
      host,
      // The broken version never answers its probe.
      probe: async (t) =>
        (options.readyWhen ?? (() => true))(t) &&
        !procs.some((p) => p.alive && p.host === t.host && p.version === options.crashVersion),
      drain,
      metrics: new SupervisorMetrics(),
      load: () => undefined,
      save: (s) => {
        saved = s;
      },
      steering: options.steering,
    },
  );
  /** Moves time in small steps, letting promises (probes, exits) settle between them. */
  async function run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  }
  const alive = (tier?: string) => procs.filter((p) => p.alive && (tier === undefined || p.tier === tier));
  const row = (slot: string) => sup.status().instances.find((r) => r.slot === slot)!;
  return { sup, procs, events, run, alive, kill, row, clock, saved: () => saved };
}

test("supervisor engine - boots tier by tier: apps after the store is ready, then gateway, then DNS", async () => {
  let storeReady = false;
  const r = rig({ readyWhen: (t) => t.tier !== "store" || storeReady });
  await r.sup.start();
  await r.run(500);
  assert.deepEqual(
    r.alive().map((p) => p.tier),
    ["store", "store"],
    "only the store starts while it is not ready",
  );
  storeReady = true;
  await r.run(500);
  assert.deepEqual(r.alive("app").length, 3);
  assert.equal(r.alive("gateway").length, 1);
  assert.equal(r.alive("dns").length, 1);
  assert.equal(r.sup.status().ready, true);
  assert.equal(r.saved()?.instances.length, 7, "the table is on disk");
  await r.sup.stop();
});

test("supervisor engine - an instance not ready in time is killed and its slot backs off", async () => {
  const r = rig({ readyWhen: (t) => t.tier !== "dns" });
  await r.sup.start();
  await r.run(1_000);
  const dns = r.alive("dns")[0];
  assert.ok(dns);
  await r.run(readyTimeoutMsDefault);
  assert.deepEqual(dns.signals, ["SIGKILL"]);
  const row = r.row("a-dns1");
  assert.equal(row.failures, 1);
  assert.match(row.lastExit?.how ?? "", /not ready within/);
  await r.sup.stop();
});

test("supervisor engine - the back-off grows with failures and resets after a stable minute", async () => {
  const r = rig();
  await r.sup.start();
  await r.run(1_000);
  const slot = "app#1";
  const pidIn = () => r.row(slot).pid;
  for (const want of [200, 400, 800]) {
    const p = r.procs.find((x) => x.pid === pidIn())!;
    r.kill(p);
    await r.run(20);
    assert.equal(r.row(slot).state, "backoff");
    assert.equal(r.row(slot).backoffMs, want);
    await r.run(want + 200);
    assert.equal(r.row(slot).state, "ready", `started again after ${want} ms`);
  }
  assert.equal(r.row(slot).failures, 3);
  await r.run(stableResetMs + 200);
  assert.equal(r.row(slot).failures, 0, "a stable minute forgives");
  r.kill(r.procs.find((x) => x.pid === pidIn())!);
  await r.run(20);
  assert.equal(r.row(slot).backoffMs, 200, "the next death starts short again");
  assert.equal(r.row(slot).restarts, 3);
  await r.sup.stop();
});

test("supervisor engine - a scale-down retires empty slots first, then the youngest, and drains before SIGTERM", async () => {
  const r = rig();
  await r.sup.start();
  await r.run(1_000);
  r.sup.scale("app", 5);
  await r.run(500);
  assert.equal(r.alive("app").length, 5);
  const oldest = r.alive("app").slice(0, 2);
  // One slot empty (backing off): it goes first.
  const victim = r.alive("app")[2];
  r.kill(victim);
  await r.run(20);
  r.sup.scale("app", 2);
  await r.run(500);
  const left = r.alive("app");
  assert.deepEqual(
    left.map((p) => p.pid),
    oldest.map((p) => p.pid),
    "the two oldest stay",
  );
  const retired = r.procs.filter((x) => x.tier === "app" && !x.alive && x !== victim);
  assert.equal(retired.length, 2);
  for (const p of retired) {
    assert.deepEqual(p.signals, ["SIGTERM"], `${p.id} was asked to stop, once`);
    const mine = r.events.filter((e) => e.endsWith(` ${p.id}`));
    assert.deepEqual(
      mine,
      [`mark ${p.id}`, `SIGTERM ${p.id}`, `unmark ${p.id}`],
      "drain set, then signal, then forget",
    );
  }
  assert.ok(!r.events.includes(`mark ${victim.id}`), "a dead instance is not drained");
  assert.equal(r.sup.status().tiers.find((t) => t.tier === "app")?.running, 2);
  await r.sup.stop();
});

test("supervisor engine - a deploy rolls every app to the new version within max-surge, then one that fails rolls back", async () => {
  const r = rig({ crashVersion: "3" });
  await r.sup.start();
  await r.run(1_000);
  const v = (version: string) => ({ entry: "/x/app.ts", version, readyPath: "/healthz" });
  let most = 0;
  r.sup.deploy(v("2"), { maxSurge: 1, maxUnavailable: 0 });
  assert.throws(
    () => r.sup.deploy(v("4"), { maxSurge: 1, maxUnavailable: 0 }),
    (e) => isRedshirtError(e, "RS_ERR_CATTLE_CONTROL_ROLLOUT_RUNNING"),
  );
  for (let i = 0; i < 100 && r.sup.status().rollout?.state === "rolling"; i++) {
    await r.run(50);
    most = Math.max(most, r.alive("app").length);
    const ready = r.sup.status().instances.filter((x) => x.tier === "app" && x.state === "ready").length;
    assert.ok(ready >= 3, `never fewer than N − maxUnavailable ready (${ready})`);
  }
  assert.equal(r.sup.status().rollout?.state, "done");
  assert.ok(most <= 4, `never more than N + maxSurge running (${most})`);
  assert.deepEqual(
    r.alive("app").map((p) => p.version),
    ["2", "2", "2"],
  );
  assert.equal(r.sup.status().app.version, "2");
  r.sup.deploy(v("3"), { maxSurge: 1, maxUnavailable: 0 });
  for (let i = 0; i < 200 && r.sup.status().rollout?.state !== "rolled-back"; i++) await r.run(50);
  const ro = r.sup.status().rollout;
  assert.equal(ro?.state, "rolled-back");
  assert.match(ro?.reason ?? "", /failed 2 times/);
  assert.deepEqual(
    r.alive("app").map((p) => p.version),
    ["2", "2", "2"],
    "the old version serves on",
  );
  assert.equal(r.sup.status().app.version, "2");
  assert.equal(
    r.procs.filter((p) => p.tier === "app" && p.version === "2" && !p.alive).length,
    0,
    "no old instance was stopped while the new one failed",
  );
  await r.sup.stop();
});

/** A DNS stand-in: the weight each of two servers holds, and whether their answers list the site. */
function fakeDns() {
  const held = [100, 100];
  let listing = true;
  const steering: DnsSteering = {
    ensureWeight: async (w) => {
      held.fill(w);
      return { confirmed: 2, total: 2 };
    },
    checkAnswers: async () => ({ listing: listing && held[0] > 0 ? 2 : 0, answered: 2, total: 2 }),
  };
  return {
    steering,
    held,
    setListing: (v: boolean) => {
      listing = v;
    },
  };
}

test("supervisor engine - evacuate: weight 0 first, apps drain only once DNS stops listing the site; restore: apps ready before the weight", async () => {
  const dns = fakeDns();
  dns.setListing(true);
  let appsMayBeReady = true;
  const r = rig({ steering: dns.steering, readyWhen: (t) => t.tier !== "app" || appsMayBeReady });
  await r.sup.start();
  await r.run(1_000);
  assert.equal(r.alive("app").length, 3);
  // A DNS server that keeps listing the site (a stale answer, a lagging peer) holds the drain back.
  const orig = dns.steering.checkAnswers;
  (dns.steering as { checkAnswers: DnsSteering["checkAnswers"] }).checkAnswers = async () => ({
    listing: 1,
    answered: 2,
    total: 2,
  });
  r.sup.evacuate();
  await r.run(2_000);
  assert.deepEqual(dns.held, [0, 0], "weight 0 on every DNS server");
  assert.equal(r.sup.status().evacuation.phase, "evacuating");
  assert.equal(r.alive("app").length, 3, "no app leaves while a DNS server still lists the site");
  (dns.steering as { checkAnswers: DnsSteering["checkAnswers"] }).checkAnswers = orig;
  await r.run(2_000);
  assert.equal(r.alive("app").length, 0);
  const s = r.sup.status();
  assert.equal(s.evacuation.phase, "evacuated");
  assert.equal(s.appDesired, 3);
  assert.equal(r.saved()?.evacuation?.phase, "evacuated", "the phase is on disk");
  assert.equal(r.alive("store").length, 2, "the store stays");
  assert.equal(r.sup.evacuate().phase, "evacuated", "idempotent");
  // Restore: apps first; the weight stays 0 until all of them are ready.
  appsMayBeReady = false;
  assert.equal(r.sup.restoreSite().phase, "restoring");
  await r.run(2_000);
  assert.equal(r.alive("app").length, 3, "the apps start");
  assert.deepEqual(dns.held, [0, 0], "no users while the apps are not ready");
  assert.equal(r.sup.status().evacuation.phase, "restoring");
  appsMayBeReady = true;
  await r.run(2_000);
  assert.deepEqual(dns.held, [100, 100]);
  assert.equal(r.sup.status().evacuation.phase, "serving");
  await r.sup.stop();
});

/** One site following the sun at 3600× (an hour a second): a quarter of 4 at night, all 4 from noon, half from 18:00. */
const sunPlanetYaml = `name: engine
zone: engine.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.99.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1 }
wan: { mode: direct }
sun:
  peakInstances: 4
  minInstances: 1
  clockSpeed: 3600
  curve:
    - { hour: 0, share: 0.25 }
    - { hour: 11.99, share: 0.25 }
    - { hour: 12, share: 1 }
    - { hour: 17.99, share: 1 }
    - { hour: 18, share: 0.5 }
`;

/** The real time at which the sun planet's simulated clock shows 10:00 at longitude 0, and that simulated day's start. */
function tenOClock(sunPlanet: ReturnType<typeof parsePlanet>): { startMs: number; day: number } {
  const sun = siteSun(sunPlanet, sunPlanet.sites[0])!;
  const day = Math.floor(simulatedUtcMs(1_700_000_000_000, sun) / (24 * hourMs)) * 24 * hourMs;
  return { startMs: realMsAt(day + 10 * hourMs, sun), day };
}

test("supervisor engine - follow the sun: the app count moves with the accelerated clock; evacuated stays at 0", async () => {
  const sunPlanet = parsePlanet(sunPlanetYaml);
  const { startMs } = tenOClock(sunPlanet);
  const dns = fakeDns();
  dns.setListing(true);
  const r = rig({ planet: sunPlanet, steering: dns.steering, startMs });
  await r.sup.start();
  await r.run(1_000);
  assert.equal(r.alive("app").length, 1, "10:00–11:00: a quarter of the peak is one instance");
  assert.equal(dns.held[0], 25, "weight follows the capacity ready: 1 of 4");
  assert.throws(() => r.sup.scale("app", 3), /RS_ERR_CATTLE_CONTROL_SUN_OWNS_APP|sun/);
  await r.run(2_500); // past 12:00
  assert.equal(r.sup.status().sun?.instances, 4);
  assert.equal(r.alive("app").length, 4);
  await r.run(600);
  assert.equal(dns.held[0], 100);
  await r.run(6_000); // past 18:00: half
  assert.equal(r.sup.status().sun?.instances, 2);
  assert.equal(r.alive("app").length, 2, "the surplus drained");
  assert.equal(dns.held[0], 50);
  dns.setListing(false);
  r.sup.evacuate();
  await r.run(2_000);
  assert.equal(r.alive("app").length, 0);
  await r.run(8_000); // the next noon: the sun would want 4
  assert.equal(r.alive("app").length, 0, "an evacuated site stays at 0 whatever the sun says");
  assert.equal(dns.held[0], 0);
  await r.sup.stop();
});

test("supervisor engine - follow the sun: a clock speed set at run time moves the count at the new rate, from where the clock stood, and is saved", async () => {
  const sunPlanet = parsePlanet(sunPlanetYaml);
  const { startMs, day } = tenOClock(sunPlanet);
  const dns = fakeDns();
  dns.setListing(true);
  const r = rig({ planet: sunPlanet, steering: dns.steering, startMs });
  await r.sup.start();
  await r.run(1_000); // simulated 11:00
  assert.equal(r.sup.status().sun?.instances, 1);
  assert.equal(r.saved()?.sunClock, undefined, "the planet file's clock is not saved");
  // Real time from here: noon (4 instances) is an hour of real time away, not a second.
  const slow = r.sup.setSunClock({ clockSpeed: 1, anchor: undefined });
  assert.equal(slow.clockSpeed, 1);
  assert.ok(Math.abs(slow.simUtcMs - (day + 11 * hourMs)) < 60_000, "no jump at the change: 11:00 within a minute");
  await r.run(5_000);
  assert.equal(r.sup.status().sun?.instances, 1, "at 1× the clock stays before noon");
  assert.ok(Math.abs((r.sup.status().sun?.simUtcMs ?? 0) - (slow.simUtcMs + 5_000)) < 1_000, "one simulated s per s");
  assert.deepEqual(r.saved()?.sunClock, {
    clockSpeed: 1,
    anchorRealMs: slow.anchorRealMs,
    anchorSimMs: slow.anchorSimMs,
  });
  // An anchor sent by the caller (what every site gets): 3600× from the clock as it stands.
  const nowMs = r.clock.nowMs();
  const fast = r.sup.setSunClock({
    clockSpeed: 3600,
    anchor: { realMs: nowMs, simMs: slow.anchorSimMs + (nowMs - slow.anchorRealMs) },
  });
  assert.equal(fast.anchorRealMs, nowMs);
  await r.run(1_500); // an hour and a half later: past noon
  assert.equal(r.sup.status().sun?.instances, 4, "at 3600× noon comes in a second");
  assert.equal(r.sup.status().sun?.clockSpeed, 3600);
  await r.sup.stop();
});
