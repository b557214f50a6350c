import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../../core/index.ts";
import type { Transport, WireMessage } from "../wire/transport.ts";
import { SimNetwork, type SimNetworkOptions } from "./sim-network.ts";
import { type TransportCluster, transportCompliance } from "./transport-compliance.ts";

function simCluster(ids: readonly string[], options: Partial<SimNetworkOptions> = {}, seed = 1) {
  const clock = new ManualClock();
  const network = new SimNetwork({ clock, random: seededRandom(seed), latencyMs: () => 5, jitterMs: 3, ...options });
  const transports = new Map(ids.map((id) => [id, network.transport(id)]));
  const cluster: TransportCluster = {
    transport: (id) => transports.get(id)!,
    async recreate(id) {
      await transports.get(id)!.stop();
      const t = network.transport(id);
      transports.set(id, t);
      return t;
    },
    async waitFor(cond, budgetMs) {
      for (let ms = 0; ms < budgetMs; ms++) {
        if (cond()) return true;
        clock.advance(1);
      }
      return cond();
    },
    async close() {
      for (const t of transports.values()) await t.stop();
    },
  };
  return { clock, network, transports, cluster };
}

transportCompliance("sim transport", { create: async (ids, options) => simCluster(ids, options).cluster });

type Trace = string[];
function listen(t: Transport, trace: Trace, clock: ManualClock): void {
  t.onMessage((from, m) => trace.push(`${clock.monoMs().toFixed(2)} ${from}->${t.self} ${JSON.stringify(m)}`));
  t.onPeerChange((peer, up) => trace.push(`${clock.monoMs().toFixed(2)} ${t.self} sees ${peer} ${up ? "up" : "down"}`));
}

/** A busy run with jitter, loss, a partition and a crash; returns everything that happened, in order. */
async function chaoticRun(seed: number): Promise<Trace> {
  const ids = ["ny-1", "ny-2", "ldn-1", "sg-1"];
  const site = (id: string) => id.split("-")[0];
  const { clock, network, transports } = simCluster(
    ids,
    { latencyMs: (a, b) => (site(a) === site(b) ? 1 : 40), jitterMs: 10, lossRate: 0.02 },
    seed,
  );
  const trace: Trace = [];
  for (const [, t] of transports) listen(t, trace, clock);
  for (const [, t] of transports) await t.start();
  clock.advance(2_000);
  const random = seededRandom(seed + 1000);
  for (let step = 0; step < 400; step++) {
    const from = ids[random.int(ids.length)];
    const to = ids[random.int(ids.length)];
    transports.get(from)!.send(to, ["m", step]);
    if (step === 100) network.partition(["ny-1", "ny-2"], ["sg-1"]);
    if (step === 200) network.heal();
    if (step === 250) network.crash("ldn-1");
    if (step === 300) {
      network.restart("ldn-1");
      const t = network.transport("ldn-1");
      transports.set("ldn-1", t);
      listen(t, trace, clock);
      await t.start();
    }
    clock.advance(random.int(5));
  }
  clock.advance(5_000);
  trace.push(JSON.stringify(network.stats));
  return trace;
}

test("sim network - a seed replays the same run exactly, and another seed makes another run", async () => {
  const a = await chaoticRun(7);
  const b = await chaoticRun(7);
  const c = await chaoticRun(8);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.ok(
    a.some((line) => line.includes("sees sg-1 down")),
    "the partition was noticed",
  );
  assert.ok(
    a.some((line) => line.includes("ny-1 sees ldn-1 down")),
    "the crash was noticed",
  );
});

test("sim network - a message takes its link's delay plus at most the jitter", async () => {
  const { clock, transports, cluster } = simCluster(["a", "b", "c"], {
    latencyMs: (from, to) => (from === "a" && to === "c" ? 80 : 3),
    jitterMs: 4,
  });
  const arrivals = new Map<string, number>();
  transports.get("b")!.onMessage((_f, m) => arrivals.set(String(m[0]), clock.monoMs()));
  transports.get("c")!.onMessage((_f, m) => arrivals.set(String(m[0]), clock.monoMs()));
  for (const t of transports.values()) await t.start();
  assert.ok(await cluster.waitFor(() => transports.get("a")!.isUp("b") && transports.get("a")!.isUp("c"), 3_000));
  const sentMs = clock.monoMs();
  transports.get("a")!.send("b", ["to-b"]);
  transports.get("a")!.send("c", ["to-c"]);
  clock.advance(200);
  const toB = arrivals.get("to-b")! - sentMs;
  const toC = arrivals.get("to-c")! - sentMs;
  assert.ok(toB >= 3 && toB < 7, `a->b took ${toB} ms`);
  assert.ok(toC >= 80 && toC < 84, `a->c took ${toC} ms`);
});

test("sim network - a partition loses what is in flight, both sides see it, and heal brings the link back", async () => {
  const { clock, network, transports, cluster } = simCluster(["a", "b"], { latencyMs: () => 20, jitterMs: 0 });
  const a = transports.get("a")!;
  const b = transports.get("b")!;
  const got: WireMessage[] = [];
  const changes: string[] = [];
  b.onMessage((_f, m) => got.push(m));
  a.onPeerChange((p, up) => changes.push(`a:${p}:${up}`));
  b.onPeerChange((p, up) => changes.push(`b:${p}:${up}`));
  await a.start();
  await b.start();
  assert.ok(await cluster.waitFor(() => a.isUp("b") && b.isUp("a"), 3_000));
  a.send("b", ["in flight"]);
  clock.advance(10);
  network.partition(["a"], ["b"]);
  assert.ok(network.isCut("a", "b") && network.isCut("b", "a"));
  assert.equal(a.send("b", ["unnoticed"]), true, "the sender has not noticed yet: accepted, and lost");
  clock.advance(25);
  assert.equal(a.isUp("b"), false);
  assert.equal(a.send("b", ["noticed"]), false);
  assert.deepEqual(changes.sort(), ["a:b:false", "a:b:true", "b:a:false", "b:a:true"].sort());
  clock.advance(3_000);
  assert.equal(a.isUp("b"), false, "no link while cut");
  network.heal();
  assert.ok(await cluster.waitFor(() => a.isUp("b") && b.isUp("a"), 3_000));
  a.send("b", ["after heal"]);
  clock.advance(100);
  assert.deepEqual(got, [["after heal"]]);
  assert.equal(network.stats.dropped, 2);
  network.isolate("b");
  assert.ok(network.isCut("a", "b") && network.isCut("b", "a"));
  network.heal();
  assert.ok(!network.isCut("a", "b"));
});

test("sim network - a crashed node loses what was sent to it, never runs its handlers again, and comes back as a new transport", async () => {
  const { clock, network, transports, cluster } = simCluster(["a", "b"], { latencyMs: () => 10, jitterMs: 0 });
  const a = transports.get("a")!;
  const oldB = transports.get("b")!;
  let oldCalls = 0;
  oldB.onMessage(() => oldCalls++);
  await a.start();
  await oldB.start();
  assert.ok(await cluster.waitFor(() => a.isUp("b") && oldB.isUp("a"), 3_000));
  const gotAtA: WireMessage[] = [];
  a.onMessage((_f, m) => gotAtA.push(m));
  oldB.send("a", ["last words"]);
  a.send("b", ["to the dead"]);
  network.crash("b");
  assert.equal(oldB.send("a", ["from the grave"]), false);
  oldB.onMessage(() => oldCalls++);
  clock.advance(50);
  assert.equal(oldCalls, 0);
  assert.deepEqual(gotAtA, [["last words"]], "what the crashed node sent before still arrives");
  assert.equal(a.isUp("b"), false);
  assert.throws(() => network.transport("b"), /restart/);
  network.restart("b");
  const newB = network.transport("b");
  const gotAtB: WireMessage[] = [];
  newB.onMessage((_f, m) => gotAtB.push(m));
  await newB.start();
  await assert.rejects(oldB.start(), /retired/);
  assert.ok(await cluster.waitFor(() => a.isUp("b") && newB.isUp("a"), 3_000));
  a.send("b", ["welcome back"]);
  clock.advance(50);
  assert.deepEqual(gotAtB, [["welcome back"]]);
});

test("sim network - messages of one connection stay in order; only a new connection may overtake an old one", () => {
  let interleaved = 0;
  for (let seed = 1; seed <= 30; seed++) {
    const clock = new ManualClock();
    const network = new SimNetwork({ clock, random: seededRandom(seed), latencyMs: () => 5, jitterMs: 1_500 });
    let a = network.transport("a");
    const b = network.transport("b");
    const got: [life: number, n: number][] = [];
    b.onMessage((_f, m) => got.push([m[0] as number, m[1] as number]));
    void a.start();
    void b.start();
    for (let i = 0; i < 2_000 && !a.isUp("b"); i++) clock.advance(1);
    for (let n = 0; n < 50; n++) a.send("b", [1, n]);
    network.crash("a");
    network.restart("a");
    a = network.transport("a");
    void a.start();
    for (let i = 0; i < 2_000 && !a.isUp("b"); i++) clock.advance(1);
    for (let n = 0; n < 50; n++) a.send("b", [2, n]);
    clock.advance(5_000);
    assert.equal(got.length, 100, `seed ${seed}: everything arrives`);
    for (const life of [1, 2]) {
      const ns = got.filter(([l]) => l === life).map(([, n]) => n);
      assert.deepEqual(
        ns,
        Array.from({ length: 50 }, (_, n) => n),
        `seed ${seed}: life ${life} in order`,
      );
    }
    if (got.findIndex(([l]) => l === 2) < got.findLastIndex(([l]) => l === 1)) interleaved++;
  }
  assert.ok(interleaved > 0, "with enough jitter, some seed shows the old connection overtaken");
});

test("sim network - a lost message breaks its connection: the sender sees the peer down before any gap", () => {
  const clock = new ManualClock();
  const network = new SimNetwork({ clock, random: seededRandom(3), latencyMs: () => 2, jitterMs: 2, lossRate: 0.05 });
  const a = network.transport("a");
  const b = network.transport("b");
  let epoch = 0;
  const got: [epoch: number, n: number][] = [];
  a.onPeerChange((_p, up) => {
    if (!up) epoch++;
  });
  b.onMessage((_f, m) => got.push([m[0] as number, m[1] as number]));
  void a.start();
  void b.start();
  let n = 0;
  for (let ms = 0; ms < 20_000; ms++) {
    if (a.send("b", [epoch, n])) n++;
    clock.advance(1);
  }
  clock.advance(100);
  assert.ok(network.stats.lossBreaks > 10, `losses happened (${network.stats.lossBreaks})`);
  assert.ok(got.length > 500, `${got.length} delivered`);
  for (let i = 1; i < got.length; i++) {
    const [e0, n0] = got[i - 1];
    const [e1, n1] = got[i];
    assert.ok(n1 > n0, "never reordered, never duplicated");
    if (n1 !== n0 + 1) assert.ok(e1 > e0, `the gap after ${n0} comes with a down event`);
  }
});
