// The instance registry against a real store node: holders are real processes (SIGKILL is
// a real death), the watcher runs here on the real clock. A lease appears within a second,
// a stopped holder's lease goes at once, a SIGKILLed one within the TTL plus one poll; a
// store that fails keeps the last view; stale fields are cleaned up by the watcher alone;
// the drain set shows; a holder whose clock is hours off is as live as any.
// Subnet 127.191.0.0/16.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  drainKey,
  LeaseHolder,
  RegistryInstanceSource,
  RegistryMetrics,
  RegistryWatcher,
  registryConstants,
  registryKey,
} from "../src/cattle/index.ts";
import { createLogger, type Launched, launch, nodeBin, systemClock } from "../src/core/index.ts";
import { createStoreClient, type StoreClient } from "../src/store/index.ts";
import { sleep, waitFor } from "./support/gateway-cluster.ts";
import { StoreCluster } from "./support/store-cluster.ts";

const cluster = new StoreCluster({
  sites: [{ name: "r", octet: 191, lat: 0, lon: 0, nodes: 1 }],
  partitions: 8,
  rf: 1,
});
const log = createLogger({ test: "registry" }, { level: "error" });
const { leaseTtlMsDefault: ttlMs, pollMsDefault: pollMs } = registryConstants;
let store: StoreClient;
let metrics: RegistryMetrics;
let watcher: RegistryWatcher;
const holders = new Set<Launched>();

before(async () => {
  await cluster.startAll();
  store = createStoreClient({ planet: cluster.planet, site: "r", timeoutMs: 2_000 });
  metrics = new RegistryMetrics();
  watcher = new RegistryWatcher({ site: "r" }, { store, clock: systemClock, log, metrics });
  await watcher.start();
});

after(async () => {
  await watcher?.stop();
  await Promise.all([...holders].map((h) => h.stop(0)));
  await store?.close();
  await cluster[Symbol.asyncDispose]();
});

function holder(id: string, extra: string[] = []): Promise<Launched> {
  return launch({
    name: `holder ${id}`,
    command: nodeBin,
    args: ["test/support/lease-holder.ts", "--planet", cluster.planetFile, "--site", "r", "--id", id, ...extra],
    env: { ...process.env, REDSHIRT_LOG_LEVEL: "error" },
  }).then((h) => {
    holders.add(h);
    return h;
  });
}

const live = (id: string) => watcher.leases().some((l) => l.id === id);
const counter = (name: string, labels: string) =>
  Number(new RegExp(`^${name}\\{${labels}\\} (\\d+)`, "m").exec(metrics.render())?.[1] ?? 0);

test("registry - a lease appears within a second, and a stopped holder's lease goes at once", async (t) => {
  const h = await holder("r-a");
  const seenMs = await waitFor(() => live("r-a"), 2_000, 5);
  assert.ok(seenMs >= 0 && seenMs < 1_000, `seen after ${seenMs.toFixed(0)} ms`);
  const lease = watcher.leases().find((l) => l.id === "r-a")!;
  assert.deepEqual([lease.site, lease.tier, lease.state, lease.port], ["r", "app", "ready", 9000]);
  // It stays live for several TTLs: the heartbeat keeps it.
  await sleep(2 * ttlMs);
  assert.ok(live("r-a"));
  const stoppedAt = performance.now();
  h.kill("SIGTERM");
  const goneMs = await waitFor(() => !live("r-a"), 3_000, 5);
  await h.exited;
  assert.ok(goneMs >= 0 && goneMs < pollMs + 400, `gone ${goneMs.toFixed(0)} ms after SIGTERM`);
  const field = await store.get(registryKey("r"));
  assert.equal((field.value as Record<string, unknown> | undefined)?.["r-a"], undefined, "the field is removed");
  assert.equal(counter("rs_registry_reads_total", 'key="registry",result="failed"'), 0, "no read failed");
  t.diagnostic(
    `seen ${seenMs.toFixed(0)} ms after ready; gone ${goneMs.toFixed(0)} ms after SIGTERM (${(performance.now() - stoppedAt).toFixed(0)})`,
  );
});

test("registry - a SIGKILLed holder's lease goes within the lease TTL plus one poll", async (t) => {
  const h = await holder("r-k");
  await waitFor(() => live("r-k"), 2_000, 5);
  await sleep(500);
  const killedAt = performance.now();
  h.kill("SIGKILL");
  const goneMs = await waitFor(() => !live("r-k"), 5_000, 5);
  // Its last beat came up to one heartbeat before the kill.
  assert.ok(goneMs >= ttlMs - registryConstants.heartbeatMsDefault - pollMs, `gone too early: ${goneMs.toFixed(0)} ms`);
  assert.ok(goneMs >= 0 && goneMs <= ttlMs + pollMs + 100, `gone ${goneMs.toFixed(0)} ms after SIGKILL`);
  t.diagnostic(
    `gone ${goneMs.toFixed(0)} ms after SIGKILL (TTL ${ttlMs}, poll ${pollMs}); killed at ${killedAt.toFixed(0)}`,
  );
});

test("registry - a failing store keeps the last view; once back, the dead go and the living stay", async (t) => {
  const survivor = await holder("r-s");
  const doomed = await holder("r-d");
  // An in-process holder too, to see its failed writes counted.
  const own = new LeaseHolder(
    { id: "r-own", site: "r", tier: "app", host: "127.0.0.1", port: 9001, version: "1", initialState: "ready" },
    {
      store: createStoreClient({ planet: cluster.planet, site: "r", timeoutMs: 500 }),
      clock: systemClock,
      log,
      metrics,
    },
  );
  await own.start();
  assert.ok((await waitFor(() => live("r-s") && live("r-d") && live("r-own"), 2_000, 5)) >= 0);
  const failedBefore = counter("rs_registry_reads_total", 'key="registry",result="failed"');
  await cluster.kill("r-store1");
  doomed.kill("SIGKILL");
  // Three TTLs without a store: nothing expires, nothing is dropped.
  await sleep(3 * ttlMs);
  assert.deepEqual(
    ["r-d", "r-own", "r-s"].map((id) => [id, live(id)]),
    [
      ["r-d", true],
      ["r-own", true],
      ["r-s", true],
    ],
    "fail static",
  );
  assert.ok(
    counter("rs_registry_reads_total", 'key="registry",result="failed"') > failedBefore,
    "failed reads counted",
  );
  assert.ok(counter("rs_registry_lease_writes_total", 'kind="beat",result="failed"') > 0, "failed beats counted");
  assert.ok(watcher.status().consecutiveReadFailures > 0);
  const backAt = performance.now();
  await cluster.start("r-store1");
  // The dead holder leaves within a TTL (and a poll) of the store's return; the living stay.
  const goneMs = await waitFor(() => !live("r-d"), 5_000, 10);
  assert.ok(goneMs >= 0, "the holder killed during the outage is dropped once the store is back");
  assert.ok(live("r-s") && live("r-own"), "the living kept their leases");
  await sleep(ttlMs);
  assert.ok(live("r-s") && live("r-own"), "and keep them");
  assert.ok(counter("rs_registry_lease_writes_total", 'kind="beat",result="ok"') > 0);
  await own.stop();
  await survivor.stop();
  t.diagnostic(
    `after the store came back, the dead holder went in ${goneMs.toFixed(0)} ms (store start ${(performance.now() - backAt).toFixed(0)} ms ago)`,
  );
});

test("registry - the watcher alone removes fields nobody renews, and skips fields that are not leases", async () => {
  const m = new RegistryMetrics();
  const cleaner = new RegistryWatcher(
    { site: "r", cleanupAfterMs: 1_000 },
    { store, clock: systemClock, log, metrics: m },
  );
  // A lease whose holder is long gone, and a field some other writer got wrong.
  const dead = {
    id: "r-gone",
    site: "r",
    tier: "app",
    host: "127.0.0.1",
    port: 9,
    state: "ready",
    version: "1",
    startedAtMs: 1,
    beat: 5,
  };
  await store.mutate(registryKey("r"), { kind: "mset", fields: { "r-gone": dead, "r-junk": { hello: 1 } } });
  await cleaner.start();
  try {
    assert.ok(
      cleaner.leases().some((l) => l.id === "r-gone"),
      "first sight: live for one TTL",
    );
    assert.ok(!cleaner.leases().some((l) => l.id === "r-junk"));
    const removedMs = await waitFor(
      async () => {
        const v = (await store.get(registryKey("r"))).value as Record<string, unknown> | undefined;
        return v?.["r-gone"] === undefined && v?.["r-junk"] === undefined;
      },
      5_000,
      50,
    );
    assert.ok(removedMs >= 0, "stale fields removed from the store");
    assert.ok(Number(/rs_registry_cleanups_total\{result="ok"\} (\d+)/.exec(m.render())?.[1]) >= 2);
    assert.ok(Number(/rs_registry_invalid_fields_total\{site="r"\} (\d+)/.exec(m.render())?.[1]) >= 1);
  } finally {
    await cleaner.stop();
  }
});

test("registry - the drain set shows within a second and marks the instance draining for gateways", async () => {
  const h = await holder("r-x");
  const source = new RegistryInstanceSource(watcher, { ownsWatcher: false });
  await source.start();
  await waitFor(() => source.instances().some((i) => i.id === "r-x"), 2_000, 5);
  assert.equal(source.instances().find((i) => i.id === "r-x")?.draining, false);
  const t0 = performance.now();
  await store.add(drainKey("r"), ["r-x"]);
  const seenMs = await waitFor(() => source.instances().find((i) => i.id === "r-x")?.draining === true, 2_000, 5);
  assert.ok(seenMs >= 0 && seenMs < 1_000, `drain seen after ${seenMs.toFixed(0)} ms`);
  assert.equal(source.instances().find((i) => i.id === "r-x")?.drainReason, "drain-set");
  assert.ok(watcher.drained().has("r-x"));
  await store.remove(drainKey("r"), ["r-x"]);
  assert.ok((await waitFor(() => !watcher.drained().has("r-x"), 2_000, 5)) >= 0);
  await h.stop();
  assert.ok(performance.now() - t0 < 10_000);
});

test("registry - a holder whose wall clock is an hour ahead is as live as any", async () => {
  const h = await holder("r-skew", ["--skew-ms", String(3_600_000)]);
  await waitFor(() => live("r-skew"), 2_000, 5);
  await sleep(2 * ttlMs);
  assert.ok(live("r-skew"), "liveness is judged by beats on the watcher's clock, not the holder's");
  h.kill("SIGKILL");
  assert.ok((await waitFor(() => !live("r-skew"), 5_000, 10)) >= 0);
});
