// The arcs of users the dashboard does not run, from the gateways' requests by region, on a
// manual clock: a gateway's req/s per region is the difference of its last two scrapes; a
// gateway that stops answering drops out at once, one not scraped lately ages out, a
// restarted one counts from 0; only the planet's regions are drawn. Merged with the virtual
// users' arcs, the larger count wins per (region, site), so users counted by both are not
// counted twice, and shares stay within each region.
import assert from "node:assert/strict";
import { test } from "node:test";
import { gatewayRateStaleMs } from "./constants.ts";
import { GatewayTraffic, gatewayRegionMetric, mergeArcs } from "./gateway-traffic.ts";

function text(counts: Record<string, number>): string {
  return [
    `# HELP ${gatewayRegionMetric} Requests accepted, by the client region of their source address.`,
    `# TYPE ${gatewayRegionMetric} counter`,
    ...Object.entries(counts).map(([region, n]) => `${gatewayRegionMetric}{region="${region}"} ${n}`),
    'rs_gateway_requests_total{code="200"} 999',
  ].join("\n");
}

test("gateway traffic - req/s per region from two scrapes; a gateway that stops answering or restarts is handled", () => {
  let now = 10_000;
  const gw = new GatewayTraffic(["europe", "asia"], () => now);
  gw.take("lon-gateway1", "lon", text({ europe: 100, asia: 5, other: 40 }));
  assert.deepEqual(gw.arcs(), [], "one scrape is no rate yet");
  now += 500;
  gw.take("lon-gateway1", "lon", text({ europe: 110, asia: 5, other: 90 }));
  gw.take("sin-gateway1", "sin", text({ asia: 7 }));
  assert.deepEqual(
    gw.arcs(),
    [{ region: "europe", site: "lon", reqPerS: 20 }],
    "other is not a region; asia did not move",
  );
  now += 500;
  gw.take("sin-gateway1", "sin", text({ asia: 17 }));
  assert.deepEqual(
    gw.arcs().sort((a, b) => a.site.localeCompare(b.site)),
    [
      { region: "europe", site: "lon", reqPerS: 20 },
      { region: "asia", site: "sin", reqPerS: 20 },
    ],
  );
  // London's gateway is killed: it serves nobody from that moment.
  now += 500;
  gw.take("lon-gateway1", "lon", null);
  assert.deepEqual(
    gw.arcs().map((a) => a.site),
    ["sin"],
  );
  // Restarted, it counts from 0: 4 requests in the 500 ms after its first scrape back.
  gw.take("lon-gateway1", "lon", text({ europe: 0 }));
  now += 500;
  gw.take("lon-gateway1", "lon", text({ europe: 4 }));
  gw.take("sin-gateway1", "sin", text({ asia: 17 }));
  assert.deepEqual(gw.arcs(), [{ region: "europe", site: "lon", reqPerS: 8 }], "a counter that went down restarted");
  // Scrapes that stop coming (a paused gateway whose scrapes time out elsewhere) age out.
  now += gatewayRateStaleMs + 1;
  assert.deepEqual(gw.arcs(), []);
});

test("gateway traffic - merged with the virtual users' arcs: the larger count per arc, shares within the region", () => {
  const users = [
    { region: "europe", site: "lon", ops: 30, share: 0.75 },
    { region: "europe", site: "nyc", ops: 10, share: 0.25 },
  ];
  // The gateways see europe at lon (the users' 30 and 30 more from elsewhere), asia at sin only.
  const merged = mergeArcs(users, [
    { region: "europe", site: "lon", reqPerS: 40 },
    { region: "asia", site: "sin", reqPerS: 2 },
  ]);
  assert.deepEqual(
    merged.map((a) => [a.region, a.site, a.ops, Number(a.share.toFixed(3)), a.seenBy]),
    [
      ["europe", "lon", 60, 0.857, "both"],
      ["europe", "nyc", 10, 0.143, "users"],
      ["asia", "sin", 3, 1, "gateways"],
    ],
  );
  // Less than one request in the window is no arc; no users and no gateways, no arcs.
  assert.deepEqual(mergeArcs([], [{ region: "asia", site: "sin", reqPerS: 0.2 }]), []);
  assert.deepEqual(mergeArcs([], []), []);
});

test("gateway traffic - a site known to serve nobody (killed whole) loses its arcs at once; the region's shares are of what is left", () => {
  const users = [
    { region: "europe", site: "lon", ops: 30, share: 0.75 },
    { region: "europe", site: "nyc", ops: 10, share: 0.25 },
  ];
  const merged = mergeArcs(users, [{ region: "asia", site: "lon", reqPerS: 4 }], new Set(["lon"]));
  assert.deepEqual(
    merged.map((a) => [a.region, a.site, a.ops, a.share]),
    [["europe", "nyc", 10, 1]],
  );
});
