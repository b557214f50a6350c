// Anti-entropy alone must bring replicas together: the coordinators that took the writes are
// dead (their logs can never stream), so only rounds between the survivors carry the ops, both
// ways and across sites. Deterministic: simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry, seededRandom } from "../../core/index.ts";
import { parsePlanet } from "../../topology/index.ts";
import { applyMutation, decodeState, digest, encodeState, merge, read } from "../crdt/crdt.ts";
import { MemoryStorage } from "../testkit/memory-storage.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";
import type { WireMessage } from "../wire/transport.ts";
import { AntiEntropy } from "./anti-entropy.ts";
import {
  antiEntropyIdleMs,
  antiEntropyMessageBytesMax,
  antiEntropyPageKeysMax,
  antiEntropySettleMs,
} from "./engine-constants.ts";
import { HashTrees } from "./merkle.ts";
import { createNodeMetrics, type NodeMetrics } from "./node-metrics.ts";

const nyc = ["nyc-store1", "nyc-store2", "nyc-store3"];
const lon = ["lon-store1", "lon-store2", "lon-store3"];
const sin = ["sin-store1", "sin-store2", "sin-store3"];

async function writeMany(c: SimCluster, node: string, prefix: string, n: number): Promise<void> {
  for (let from = 0; from < n; from += 200) {
    const batch = [];
    for (let i = from; i < Math.min(n, from + 200); i++) {
      const mutation =
        i % 3 === 0
          ? ({ kind: "incr", by: 2 } as const)
          : i % 3 === 1
            ? ({ kind: "sadd", members: [`m${i}`] } as const)
            : ({ kind: "set", value: { i } } as const);
      batch.push(
        c.mutate(node, { key: `${prefix}${i}`, mutation, opId: `${prefix}-op${i}`, consistency: "local-quorum" }),
      );
    }
    const results = await c.settle(Promise.all(batch));
    for (const r of results) assert.ok(r.ok, `write at ${node} failed: ${!r.ok && r.error.message}`);
  }
}

function rootsAgree(c: SimCluster, nodes: readonly string[]): boolean {
  const first = JSON.stringify(c.engine(nodes[0])!.treeRoots());
  return nodes.every((n) => JSON.stringify(c.engine(n)!.treeRoots()) === first);
}

test("anti-entropy - alone carries thousands of keys both ways across sites when the coordinators' logs are lost", async (t) => {
  const c = new SimCluster({ planet: parsePlanet(simPlanetYaml), seed: 5 });
  await c.startAll();
  await c.advance(1_000);
  const n = 2_000;
  // nyc is cut off: its writes reach only its own site; lon's reach lon and sin.
  c.network.partition(nyc, [...lon, ...sin]);
  await writeMany(c, "nyc-store1", "n", n);
  await writeMany(c, "lon-store1", "l", n);
  await c.advance(500);
  // Both coordinators die for good: nothing can stream from their logs any more.
  c.crash("nyc-store1");
  c.crash("lon-store1");
  c.network.heal();
  const live = [...nyc, ...lon, ...sin].filter((id) => c.isRunning(id));
  const healedMs = c.clock.monoMs();
  const wallStart = performance.now();
  let waited = 0;
  while (!rootsAgree(c, live) && waited < 60_000) {
    await c.advance(100);
    waited += 100;
  }
  const tookMs = c.clock.monoMs() - healedMs;
  t.diagnostic(
    `${2 * n} keys converged on ${live.length} replicas ${tookMs} ms (simulated) after healing, ${Math.round(performance.now() - wallStart)} ms of wall time`,
  );
  assert.ok(rootsAgree(c, live), "replicas still differ 60 s of simulated time after healing");
  // Every survivor reads every acknowledged write, from its own copy.
  for (const id of ["nyc-store2", "lon-store3", "sin-store1"]) {
    for (const [prefix, i] of [
      ["n", 0],
      ["n", 1],
      ["n", n - 1],
      ["l", 3],
      ["l", 1_000],
      ["l", n - 2],
    ] as const) {
      const r = await c.settle(c.read(id, { key: `${prefix}${i}`, consistency: "local-one" }));
      assert.ok(r.ok && r.value.value.exists, `${id} lacks ${prefix}${i}`);
    }
  }
  for (const id of live) {
    const text = c.engine(id)!.metricsText();
    assert.equal(c.engine(id)!.internalErrors, 0, `${id} counted internal errors:\n${text}`);
    assert.match(text, /redshirt_store_anti_entropy_keys_total\{direction="received"\} [1-9]/);
  }
  // 2 x 2,000 keys to 6 or 7 replicas each, at simulated LAN/WAN latency: seconds, not minutes.
  assert.ok(tookMs < 20_000, `convergence took ${tookMs} ms of simulated time`);
  await c.stopAll();
});

// Two replicas of one partition, wired to each other directly, with far more differing keys
// than one message may carry: paging must resume where the peer stopped, every message must
// keep its bounds, and repair must go both ways.
type Side = { ae: AntiEntropy; storage: MemoryStorage; trees: HashTrees; m: NodeMetrics };

type SideOptions = {
  /** Keys that settle on this side (written or streamed here a moment ago). */
  readonly settling?: ReadonlySet<string>;
  readonly preferPeers?: () => readonly string[];
  readonly onSynced?: (peer: string, partition: number) => void;
};

function side(self: string, peer: string, outbox: [string, string, WireMessage][], options: SideOptions = {}): Side {
  const storage = new MemoryStorage();
  const trees = new HashTrees(1);
  const m = createNodeMetrics(new Registry());
  const stateOf = (key: string) => {
    const row = storage.getKey(key);
    return row ? decodeState(row.state) : undefined;
  };
  const ae = new AntiEntropy({
    self,
    partitions: [0],
    replicasOf: () => [peer],
    trees,
    random: seededRandom(1),
    m,
    isUp: () => true,
    send: (to, message) => {
      outbox.push([self, to, message]);
      return true;
    },
    scanDigests: (p, after, limit) => storage.scanDigests(p, after, limit),
    stateOf,
    mergeRemote: (key, partition, remote) => {
      const old = storage.getKey(key);
      const merged = merge(stateOf(key), remote)!;
      const d = digest(merged);
      storage.commit({ puts: [{ key, partition, state: encodeState(merged), digest: d, expiresAtMs: 0 }] });
      trees.update(partition, key, old?.digest ?? 0, d);
      return (old?.digest ?? 0) !== d;
    },
    settling: options.settling ? (key) => options.settling!.has(key) : undefined,
    preferPeers: options.preferPeers,
    onSynced: options.onSynced,
  });
  return { ae, storage, trees, m };
}

function put(s: Side, key: string, value: unknown, h: number): void {
  const { state } = applyMutation(undefined, { kind: "set", value }, { opId: `${key}-${h}`, h, nowMs: 0 });
  const d = digest(state);
  const old = s.storage.getKey(key);
  s.storage.commit({ puts: [{ key, partition: 0, state: encodeState(state), digest: d, expiresAtMs: 0 }] });
  s.trees.update(0, key, old?.digest ?? 0, d);
}

test("anti-entropy - pages through 9,000 differing keys past 9,000 tombstones with bounded messages and repairs both ways", () => {
  const outbox: [string, string, WireMessage][] = [];
  const a = side("a", "b", outbox);
  const b = side("b", "a", outbox);
  // 3,000 each: shared keys s*, every 7th written differently on b (later); a-only keys a* sort before
  // them and b-only keys z* after: a page that reaches one side's end or start covers
  // thousands of the other's keys, which must be cut by the scan and state budgets.
  for (let i = 0; i < 3_000; i++) {
    put(a, `a${i}`, i, 1_000 + i);
    put(b, `z${i}`, i, 1_000 + i);
    put(a, `s${i}`, i, 1_000 + i);
    put(b, `s${i}`, i % 7 === 0 ? -i : i, i % 7 === 0 ? 100_000 + i : 1_000 + i);
  }
  // Between b's shared and b-only keys, 9,000 tombstones (digest 0) that only b holds: no
  // difference, but they fill b's scans, so b must say it covered less than a's page asked.
  for (let i = 0; i < 9_000; i++) {
    const { state } = applyMutation(undefined, { kind: "del" }, { opId: `y${i}-del`, h: 50_000 + i, nowMs: 0 });
    assert.equal(digest(state), 0);
    b.storage.commit({ puts: [{ key: `y${i}`, partition: 0, state: encodeState(state), digest: 0, expiresAtMs: 0 }] });
  }
  let nowMs = 0;
  let messages = 0;
  for (let step = 0; step < 40 && a.trees.root(0) !== b.trees.root(0); step++) {
    nowMs += 50;
    // Only a starts rounds: what b holds and a lacks must come back as answers to a's pages.
    a.ae.tick(nowMs);
    while (outbox.length > 0 && messages < 5_000) {
      const [from, to, message] = outbox.shift()!;
      messages++;
      const type = message[0] as string;
      if (type === "ae-keys") assert.ok((message[6] as string[]).length <= antiEntropyPageKeysMax, "page keys bounded");
      if (type === "ae-page" || type === "ae-give") {
        const states = message[type === "ae-page" ? 3 : 2] as [string, Uint8Array][];
        assert.ok(states.length <= antiEntropyPageKeysMax, `${type}: ${states.length} states`);
        const bytes = states.reduce((n, [, s]) => n + s.byteLength, 0);
        assert.ok(bytes <= antiEntropyMessageBytesMax + 1024, `${type}: ${bytes} bytes`);
      }
      (to === "a" ? a : b).ae.onMessage(from, message);
    }
  }
  assert.equal(a.trees.root(0), b.trees.root(0), "the replicas did not converge");
  for (const k of ["a0", "a2999", "s7", "s8", "z0", "z2999"]) {
    assert.ok(a.storage.getKey(k) && b.storage.getKey(k), `${k} on both`);
    assert.equal(a.storage.getKey(k)?.digest, b.storage.getKey(k)?.digest, k);
  }
  // s7 differed: b's write was later, so both now hold -7.
  assert.equal(decodeState(a.storage.getKey("s7")!.state).ops[`s7-${100_007}`]?.v, -7);
  const sent = (s: Side) => s.m.aeKeys.get({ direction: "sent" });
  assert.ok(sent(a) >= 3_000 && sent(b) >= 3_000, `both sides pushed: a ${sent(a)}, b ${sent(b)}`);
  assert.ok(b.m.aeRounds.get({ outcome: "repaired" }) === 0, "b started no round");
  assert.ok(messages < 200, `${messages} messages`);
});

/** Delivers every message in the outbox (and what the answers send), in order. */
function deliver(outbox: [string, string, WireMessage][], sides: Record<string, Side>): string[] {
  const types: string[] = [];
  while (outbox.length > 0) {
    const [from, to, message] = outbox.shift()!;
    types.push(message[0] as string);
    sides[to].ae.onMessage(from, message);
  }
  return types;
}

const registerOf = (s: Side, key: string): unknown => {
  const row = s.storage.getKey(key);
  return row ? read(decodeState(row.state), 0).value : undefined;
};

/**
 * Two sides where x1 settles on a and x2 on b, each side's copy of its settling key the later
 * one (a repair would move it); a's onSynced calls are collected.
 */
function settlingPair(aOptions: SideOptions = {}) {
  const outbox: [string, string, WireMessage][] = [];
  const synced: string[] = [];
  const a = side("a", "b", outbox, { settling: new Set(["x1"]), onSynced: (peer) => synced.push(peer), ...aOptions });
  const b = side("b", "a", outbox, { settling: new Set(["x2"]) });
  put(a, "x1", "a-x1", 5_000);
  put(b, "x1", "b-x1", 10);
  put(a, "x2", "a-x2", 20);
  put(b, "x2", "b-x2", 5_000);
  return { outbox, synced, a, b };
}

test("anti-entropy - an ordinary round leaves keys still settling on either side to the streams, then waits the settle time", () => {
  const { outbox, synced, a, b } = settlingPair();
  put(a, "x3", "a-x3", 30);
  put(b, "x3", "b-x3", 5_000);
  a.ae.tick(0);
  deliver(outbox, { a, b });
  // x3 differs and settles nowhere: repaired (b's later write wins on both).
  assert.equal(registerOf(a, "x3"), "b-x3");
  // x1 settles on a (named with digest -1), x2 on b: neither sent nor asked for.
  assert.equal(registerOf(b, "x1"), "b-x1", "b got a's settling x1");
  assert.equal(registerOf(a, "x2"), "a-x2", "a got b's settling x2");
  assert.deepEqual(synced, [], "a partition with keys left out is not counted synced");
  // The round that repaired x3 started the next at once: it found only the settling keys,
  // moved nothing, and the one after waits the settle time.
  assert.equal(a.m.aeRounds.get({ outcome: "repaired" }), 1);
  assert.equal(a.m.aeRounds.get({ outcome: "settling" }), 1);
  assert.equal(b.m.aeKeys.get({ direction: "left-settling" }), 4, "x1 and x2, in each round");
  a.ae.tick(antiEntropyIdleMs);
  assert.equal(outbox.length, 0, "no round one idle wait after a settling one");
  a.ae.tick(antiEntropySettleMs);
  assert.equal(outbox[0]?.[2][0], "ae-roots", "a round again after the settle time");
});

test("anti-entropy - a round with a preferred peer (a fill, a refill) repairs settling keys too and counts the partition synced", () => {
  const { outbox, synced, a, b } = settlingPair({ preferPeers: () => ["b"] });
  a.ae.tick(0);
  deliver(outbox, { a, b });
  assert.equal(registerOf(b, "x1"), "a-x1");
  assert.equal(registerOf(a, "x2"), "b-x2");
  assert.equal(b.m.aeKeys.get({ direction: "left-settling" }), 0);
  assert.ok(synced.length > 0 && synced.every((p) => p === "b"), `synced with ${synced.join(",")}`);
});
