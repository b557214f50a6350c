// Follow the sun with real processes: a one-site planet whose sun clock runs 3600× (a
// simulated day in 24 s); the site's supervisor sets its app tier's count from the local
// time and its DNS weight from the capacity ready, and both move as the clock does.
// Addresses: 127.234.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { SiteStatus } from "../src/cattle/index.ts";
import type { Launched } from "../src/core/index.ts";
import { cleanup, startSupervisor, status, type TestPlanet, waitStatus, writePlanet } from "./support/supervised.ts";

const tp: TestPlanet = writePlanet(
  "redshirt-sun-",
  `name: suntest
zone: sun.test.
sites:
  - { name: a, city: A, lat: 0, lon: 0, subnet: 127.234.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
sun:
  peakInstances: 3
  minInstances: 1
  clockSpeed: 3600
  curve:
    - { hour: 0, share: 0.2 }
    - { hour: 7.9, share: 0.2 }
    - { hour: 8, share: 1 }
    - { hour: 19.9, share: 1 }
    - { hour: 20, share: 0.2 }
`,
);
let sup: Launched | undefined;
const dns = tp.planet.dnsAdmins[0];

before(async () => {
  sup = await startSupervisor(tp, "a");
  await waitStatus(tp, "a", (s) => s.tiers.every((t) => t.tier === "app" || t.ready === t.desired), 60_000, "ready");
});

after(async () => {
  await cleanup(tp, ["a"], [sup]);
});

test("sun - the app tier's desired count and the DNS weight move with the accelerated clock", async () => {
  const seen = { desired: new Set<number>(), ready: new Set<number>(), weights: new Set<number>() };
  const hours = new Set<number>();
  // Two simulated days at most: a loaded machine starts an instance in seconds, not 100 ms.
  const deadline = Date.now() + 48_000;
  let last: SiteStatus | undefined;
  // A 12-hour peak is 12 s of real time: room for two Node starts on a loaded machine.
  while (Date.now() < deadline) {
    last = await status(tp, "a");
    const app = last.tiers.find((t) => t.tier === "app")!;
    assert.ok(last.sun, "the status shows the sun");
    assert.equal(app.desired, last.sun.instances, `the app tier's count is the sun's: ${JSON.stringify(last.sun)}`);
    seen.desired.add(app.desired);
    seen.ready.add(app.ready);
    hours.add(Math.floor(last.sun.localHour));
    const w = (await (await fetch(`http://${dns.host}:${dns.port}/_redshirt/dns/weights`)).json()) as {
      entries: Record<string, { weight: number }>;
    };
    if (w.entries.a) seen.weights.add(w.entries.a.weight);
    if (
      seen.desired.has(1) &&
      seen.desired.has(3) &&
      seen.ready.has(3) &&
      seen.weights.has(100) &&
      seen.weights.has(33) &&
      hours.size >= 6
    )
      break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(seen.desired.has(3) && seen.desired.has(1), `desired counts seen: ${[...seen.desired]}`);
  assert.ok(seen.ready.has(3), `the tier reached the peak: ready counts seen ${[...seen.ready]}`);
  assert.ok(seen.weights.has(100) && seen.weights.has(33), `weights seen: ${[...seen.weights]}`);
  assert.ok(hours.size >= 6, `local hours seen: ${[...hours]}`);
  const metrics = await fetch(`http://${tp.planet.supervisors[0].host}:${tp.planet.supervisors[0].port}/metrics`, {
    headers: { authorization: `Bearer ${(await import("../src/core/index.ts")).controlBearerToken(tp.ctl.secret)}` },
  });
  const text = await metrics.text();
  assert.match(text, /redshirt_supervisor_sun_changes_total [1-9]/);
  assert.doesNotMatch(text, /redshirt_supervisor_steering_failures_total\{[^}]*\} [1-9]/);
});
