// The faults a supervisor holds, on a manual clock with an in-memory process table standing
// in for the OS (a TEST DOUBLE of ProcessHost only: SIGKILL ends a process, SIGSTOP/SIGCONT
// mark it stopped or running) and the faults file in memory: a killed site or tier is held
// down until its TTL and then started again without a back-off; a TTL of 0 still kills; a
// pause is SIGCONTed at its TTL; a supervisor started after a pause expired reverts it at
// once, and one started while a kill holds keeps the slots down until the TTL; an empty disk
// is deleted only once its node is down, and the fault ends only after that; bad fault
// bodies are refused naming the field. Real processes: test/chaos.test.ts. Nothing here binds
// an address.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, isRedshirtError, ManualClock, seededRandom } from "../../core/index.ts";
import { parsePlanet } from "../../topology/index.ts";
import { parseFaultRequest } from "../control/fault-api.ts";
import type { ProcessHost } from "./host.ts";
import { SupervisorMetrics } from "./metrics.ts";
import type { ExitInfo } from "./processes.ts";
import type { PersistedState } from "./state-file.ts";
import { Supervisor } from "./supervisor.ts";

const planet = parsePlanet(
  `name: faults
zone: faults.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.98.0.0/16, tiers: { store: 2, app: 2, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1 }
wan: { mode: direct }
`,
);

type Proc = {
  pid: number;
  tier: string;
  slot: string;
  id: string;
  env: NodeJS.ProcessEnv;
  alive: boolean;
  stopped: boolean;
  exit: (e: ExitInfo) => void;
};

/** One "machine": processes outlive a supervisor; each supervisor started on it adopts them. */
function machine() {
  const clock = new ManualClock();
  const procs: Proc[] = [];
  let nextPid = 2000;
  let faultsFile: string | undefined;
  let state: PersistedState | undefined;
  const wiped: string[] = [];
  const skews: string[] = [];
  const exits = new Map<number, (e: ExitInfo) => void>();
  const host: ProcessHost = {
    spawn(req) {
      const pid = nextPid++;
      const exited = new Promise<ExitInfo>((r) => exits.set(pid, r));
      procs.push({
        pid,
        tier: String(req.env.REDSHIRT_TIER),
        slot: String(req.env.REDSHIRT_SLOT),
        id: String(req.env.REDSHIRT_INSTANCE_ID),
        env: req.env,
        alive: true,
        stopped: false,
        exit: (e) => exits.get(pid)?.(e),
      });
      return { pid, startTicks: pid, exited };
    },
    // Adopted processes: their death is seen through this promise too.
    watch: (pid) => ({ exited: new Promise<ExitInfo>((r) => exits.set(pid, r)), cancel() {} }),
    isSame: (pid) => procs.some((p) => p.pid === pid && p.alive),
    scan: () =>
      procs
        .filter((p) => p.alive)
        .map((p) => ({
          pid: p.pid,
          startTicks: p.pid,
          env: new Map(Object.entries(p.env).map(([k, v]) => [k, String(v)])),
        })),
    signal(pid, _identity, signal) {
      const p = procs.find((x) => x.pid === pid && x.alive);
      if (!p) return false;
      if (signal === "SIGSTOP") p.stopped = true;
      else if (signal === "SIGCONT") p.stopped = false;
      else {
        p.alive = false;
        p.exit({ code: null, signal, known: true });
      }
      return true;
    },
    tail: () => "",
  };
  function supervisor(): Supervisor {
    return new Supervisor(
      {
        planet,
        site: planet.sites[0],
        planetFile: "/x/planet.yaml",
        dir: "/x/supervisors/a",
        ownerTag: "test#a",
        nodeBin: "node",
        app: { entry: "/x/app.ts", version: "1", readyPath: "/healthz" },
        address: "127.98.6.1:7600",
        pid: 1,
      },
      {
        clock,
        random: seededRandom(3),
        log: createLogger({}, { write: () => {}, level: "error" }),
        host,
        // A stopped process answers no probe.
        probe: async (t) => !procs.some((p) => p.alive && p.stopped && p.slot === t.host),
        drain: { mark: async () => {}, check: async () => ({ done: true, verdicts: {} }), unmark: async () => {} },
        metrics: new SupervisorMetrics(),
        load: () => state,
        save: (s) => {
          state = s;
        },
        faults: {
          load: () => (faultsFile ? JSON.parse(faultsFile) : { active: [], ended: [] }),
          save: (text) => {
            faultsFile = text;
          },
          skewClock: async (node, offsetMs) => {
            skews.push(`${node} ${offsetMs}`);
          },
          wipeDisk: (node) => {
            assert.ok(!procs.some((p) => p.alive && p.slot === node), `${node} wiped while it runs`);
            wiped.push(node);
          },
        },
      },
    );
  }
  async function run(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  }
  const alive = (tier?: string) => procs.filter((p) => p.alive && (tier === undefined || p.tier === tier));
  return { clock, procs, supervisor, run, alive, wiped, skews };
}

test("supervisor faults - a killed site is held down until its TTL, then starts again without a back-off", async () => {
  const m = machine();
  const sup = m.supervisor();
  await sup.start();
  await m.run(1_000);
  assert.equal(m.alive().length, 6);
  const keeper = sup.faults!;
  const f = await keeper.inject({ id: "k1", kind: "kill-site", ttlMs: 5_000 });
  assert.equal(f.state, "active");
  await m.run(200);
  assert.equal(m.alive().length, 0, "every process of the site is gone");
  await m.run(4_600);
  assert.equal(m.alive().length, 0, "still held down just before the TTL");
  await m.run(600);
  assert.equal(m.alive().length, 6, "back at the TTL");
  const rows = sup.status().instances;
  assert.ok(
    rows.every((r) => r.failures === 0),
    "a fault's kill is not a failure of the slot",
  );
  assert.deepEqual(
    keeper.list().ended.map((e) => [e.id, e.reason]),
    [["k1", "ttl"]],
  );
  // Idempotent: the same id again answers the ended fault and applies nothing.
  assert.equal((await keeper.inject({ id: "k1", kind: "kill-site", ttlMs: 5_000 })).state, "ended");
  await m.run(200);
  assert.equal(m.alive().length, 6);
  await sup.stop();
});

test("supervisor faults - a kill with TTL 0 still kills once; kill-tier holds only its tier; heal ends it early", async () => {
  const m = machine();
  const sup = m.supervisor();
  await sup.start();
  await m.run(1_000);
  const before = m.alive("gateway")[0].pid;
  await sup.faults!.inject({ id: "z", kind: "kill-instance", ttlMs: 0, slot: planet.gateways[0].id });
  await m.run(500);
  assert.notEqual(m.alive("gateway")[0]?.pid, before, "killed and replaced");
  await sup.faults!.inject({ id: "t", kind: "kill-tier", tier: "app", ttlMs: 60_000 });
  await m.run(1_000);
  assert.equal(m.alive("app").length, 0);
  assert.equal(m.alive("store").length, 2, "other tiers untouched");
  await sup.faults!.heal("t");
  await m.run(500);
  assert.equal(m.alive("app").length, 2);
  await assert.rejects(
    sup.faults!.heal("nope"),
    (e) => isRedshirtError(e) && e.code === "RS_ERR_CATTLE_CONTROL_NO_FAULT",
  );
  await sup.stop();
});

test("supervisor faults - a pause that expired while no supervisor ran is reverted by the next one; a kill still held stays held", async () => {
  const m = machine();
  const first = m.supervisor();
  await first.start();
  await m.run(1_000);
  const app = m.alive("app")[0];
  await first.faults!.inject({ id: "p", kind: "pause", ttlMs: 2_000, slot: app.slot });
  await first.faults!.inject({ id: "k", kind: "kill-instance", ttlMs: 20_000, slot: "a-dns1" });
  await m.run(200);
  assert.equal(app.stopped, true);
  assert.equal(m.alive("dns").length, 0);
  // The supervisor dies (its timers die with it); time passes beyond the pause's TTL.
  first.faults!.stop();
  await first.stop();
  await m.run(5_000);
  assert.equal(app.stopped, true, "nobody reverted it meanwhile");
  const second = m.supervisor();
  await second.start();
  await m.run(100);
  assert.equal(app.stopped, false, "reverted at start");
  assert.ok(app.alive, "the same process, adopted");
  await m.run(5_000);
  assert.equal(m.alive("dns").length, 0, "the kill is held until its TTL");
  await m.run(10_500);
  assert.equal(m.alive("dns").length, 1);
  assert.deepEqual(
    second.faults!.list().ended.map((e) => [e.id, e.reason]),
    [
      ["p", "ttl"],
      ["k", "ttl"],
    ],
  );
  await second.stop();
});

test("supervisor faults - an empty disk is deleted once the node is down, and the fault ends only after that", async () => {
  const m = machine();
  const sup = m.supervisor();
  await sup.start();
  await m.run(1_000);
  const node = planet.storeNodes[0].id;
  const old = m.alive("store").find((p) => p.slot === node)!;
  await sup.faults!.inject({ id: "e", kind: "empty-disk", ttlMs: 0, slot: node });
  await m.run(500);
  assert.deepEqual(m.wiped, [node]);
  assert.equal(old.alive, false);
  const back = m.alive("store").find((p) => p.slot === node);
  assert.ok(back && back.pid !== old.pid, "started again (on the empty disk)");
  await sup.faults!.inject({ id: "s", kind: "clock-skew", ttlMs: 1_000, slot: node, offsetMs: 5_000 });
  await m.run(1_200);
  assert.deepEqual(m.skews, [`${node} 5000`, `${node} 0`], "skewed, then cleared at the TTL");
  await assert.rejects(
    sup.faults!.inject({ id: "x", kind: "empty-disk", ttlMs: 1, slot: planet.gateways[0].id }),
    (e) => isRedshirtError(e) && e.code === "RS_ERR_CATTLE_CONTROL_NO_TARGET",
  );
  await sup.stop();
});

test("supervisor faults - a bad fault body is refused naming the field", () => {
  const cases: [unknown, RegExp][] = [
    [{ id: "a b", kind: "kill-site", ttlMs: 1 }, /: id:/],
    [{ id: "x", kind: "explode", ttlMs: 1 }, /: kind:/],
    [{ id: "x", kind: "kill-site", ttlMs: -1 }, /: ttlMs:/],
    [{ id: "x", kind: "kill-tier", ttlMs: 1, tier: "web" }, /: tier:/],
    [{ id: "x", kind: "pause", ttlMs: 1 }, /: slot, instance:/],
    [{ id: "x", kind: "clock-skew", ttlMs: 1, slot: "s", offsetMs: 0 }, /: offsetMs:/],
    [{ id: "x", kind: "kill-site", ttlMs: 1, colour: 1 }, /: colour:/],
  ];
  for (const [body, message] of cases) {
    assert.throws(
      () => parseFaultRequest(body),
      (e: Error) => isRedshirtError(e) && e.code === "RS_ERR_CATTLE_CONTROL_BAD_REQUEST" && message.test(e.message),
      JSON.stringify(body),
    );
  }
});
