// The figures the dashboard draws from the virtual users' ops, on a manual clock: the arcs
// (region → serving site, with their share) over the last 1.5 s only, so a failover moves
// them as soon as the old site's ops age out; p99, req/s and errors per site, instance and
// region; one chart point per step; the event log's diff of two status polls; and the store
// nodes' metrics read for the replication charts.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { SiteAnswer } from "../cattle/index.ts";
import type { OpRecord } from "../verify/index.ts";
import { arcWindowMs, rateWindowMs } from "./constants.ts";
import { diffServing, diffStatus, type EventKind } from "./events.ts";
import { metricValues } from "./store-scrape.ts";
import { TrafficStats } from "./traffic-stats.ts";

function op(region: string, site: string | null, latencyMs: number, ok = true): OpRecord {
  return {
    type: "op",
    kind: "page",
    user: `u-${region}`,
    region,
    startMs: 0,
    endMs: latencyMs,
    attempts: 1,
    outcome: ok ? { result: "ok" } : { result: "error", status: 0, message: "refused" },
    ...(site ? { served: { site, instance: `${site}-app-1` } } : {}),
    path: "/",
    saw: { sessionUser: null },
  } as OpRecord;
}

test("traffic - arcs follow the ops of the last 1.5 s: a failover moves them once the old site's ops age out", () => {
  let now = 100_000;
  const stats = new TrafficStats(["lon", "nyc"], ["europe"], () => now);
  for (let i = 0; i < 3; i++) stats.add(op("europe", "lon", 10));
  assert.deepEqual(stats.view().arcs, [{ region: "europe", site: "lon", ops: 3, share: 1 }]);
  now += 500;
  stats.add(op("europe", "nyc", 90));
  assert.deepEqual(
    stats.view().arcs.map((a) => [a.site, a.ops, a.share]),
    [
      ["lon", 3, 0.75],
      ["nyc", 1, 0.25],
    ],
  );
  now += arcWindowMs - 400; // lon's ops are now older than the arc window; nyc's is not
  assert.deepEqual(
    stats.view().arcs.map((a) => a.site),
    ["nyc"],
  );
  // The rate window is longer: lon's ops still count in its req/s.
  assert.equal(stats.view().sites.lon.reqPerS, (3 * 1000) / rateWindowMs);
});

test("traffic - p99, errors and req/s per site, instance and region; an op nobody served counts for its region only", () => {
  const now = 5_000;
  const stats = new TrafficStats(["lon"], ["europe"], () => now);
  for (let i = 1; i <= 100; i++) stats.add(op("europe", "lon", i));
  stats.add(op("europe", null, 4_000, false));
  const v = stats.view();
  assert.equal(v.sites.lon.p99Ms, 99);
  assert.equal(v.sites.lon.errors, 0);
  assert.equal(v.instances["lon-app-1"].reqPerS, (100 * 1000) / rateWindowMs);
  assert.equal(v.regions.europe.errors, 1);
  assert.equal(v.regions.europe.p99Ms, 100);
  assert.equal(v.totalOps, 101);
  assert.equal(v.totalErrors, 1);
  const point = stats.step(1_000, { lagMsBySite: [12], hintsBySite: [3] });
  assert.deepEqual(point.reqPerSBySite, [100]);
  assert.deepEqual(point.lagMsBySite, [12]);
  assert.equal(point.errorsPerS, 1);
  assert.equal(stats.series().length, 1);
});

function answer(site: string, rows: { slot: string; id: string | null; state: string }[]): SiteAnswer {
  return {
    site,
    reachable: true,
    status: {
      evacuation: { phase: "serving" },
      rollout: null,
      faults: [],
      instances: rows.map((r) => ({
        ...r,
        tier: "app",
        lastExit: null,
        lastReplaceMs: r.id === "lon-app-2" ? 800 : null,
      })),
    },
  } as unknown as SiteAnswer;
}

test("events - a replaced instance, its readiness, a supervisor lost and a region failing over are logged in words", () => {
  const got: [EventKind, string][] = [];
  const emit = (k: EventKind, _s: string | null, t: string) => got.push([k, t]);
  const a = answer("lon", [{ slot: "app#1", id: "lon-app-1", state: "ready" }]);
  diffStatus(a, answer("lon", [{ slot: "app#1", id: "lon-app-2", state: "starting" }]), emit);
  diffStatus(
    answer("lon", [{ slot: "app#1", id: "lon-app-2", state: "starting" }]),
    answer("lon", [{ slot: "app#1", id: "lon-app-2", state: "ready" }]),
    emit,
  );
  diffStatus(a, { site: "lon", reachable: false, code: "RS_ERR_CATTLE_CONTROL_UNREACHABLE", error: "refused" }, emit);
  diffServing(new Map([["europe", "lon"]]), new Map([["europe", "nyc"]]), emit);
  assert.deepEqual(got, [
    ["replaced", "lon app#1: lon-app-1 replaced by lon-app-2"],
    ["ready", "lon app#1: lon-app-2 ready, replaced in 800 ms"],
    ["site", "lon: supervisor not answering (RS_ERR_CATTLE_CONTROL_UNREACHABLE)"],
    ["failover", "users of europe now served by nyc (were by lon)"],
  ]);
});

test("replication - a metric's values are read from Prometheus text, labels or not, and no other metric's", () => {
  const text = [
    "# HELP redshirt_store_hints_pending Log entries some target has not acknowledged yet.",
    "# TYPE redshirt_store_hints_pending gauge",
    "redshirt_store_hints_pending 17",
    'redshirt_store_replication_lag_ms{peer_site="lon"} 84.5',
    'redshirt_store_replication_lag_ms{peer_site="sin"} 230',
    "redshirt_store_replication_lag_ms_total 9",
  ].join("\n");
  assert.deepEqual(metricValues(text, "redshirt_store_hints_pending"), [17]);
  assert.deepEqual(metricValues(text, "redshirt_store_replication_lag_ms"), [84.5, 230]);
});
