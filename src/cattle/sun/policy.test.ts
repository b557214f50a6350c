import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import {
  clockRealMsAt,
  clockSimMs,
  dayMs,
  hourMs,
  instancesFor,
  localHour,
  planetSunClock,
  realMsAt,
  reanchor,
  shareAt,
  simulatedUtcMs,
  siteSun,
  sunDecision,
  weightFor,
} from "./policy.ts";

const planetYaml = (sun: string) => `name: suntest
zone: sun.test.
sites:
  - { name: nyc, city: New York, lat: 40.7, lon: -74.0 }
  - { name: lon, city: London, lat: 51.5, lon: 0 }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.8 }
${sun}`;

const curve = `  curve:
    - { hour: 0, share: 0.1 }
    - { hour: 6, share: 0.1 }
    - { hour: 12, share: 1 }
    - { hour: 18, share: 0.5 }
`;

test("sun - the share is linear between points and wraps past midnight", () => {
  const c = [
    { hour: 6, share: 0.2 },
    { hour: 12, share: 1 },
    { hour: 20, share: 0.6 },
  ];
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} ≈ ${b}`);
  near(shareAt(c, 6), 0.2);
  near(shareAt(c, 9), 0.6);
  near(shareAt(c, 12), 1);
  near(shareAt(c, 16), 0.8);
  // 20 → 6 (next day) is 10 hours from 0.6 to 0.2: at 1:00 (5 hours in) 0.4, at 23:00 0.48.
  assert.ok(Math.abs(shareAt(c, 1) - 0.4) < 1e-9);
  assert.ok(Math.abs(shareAt(c, 23) - 0.48) < 1e-9);
  assert.equal(shareAt([{ hour: 3, share: 0.7 }], 15), 0.7);
});

test("sun - instances cover the share (rounded up) within min and peak; weight follows capacity", () => {
  const s = { peakInstances: 5, minInstances: 1 };
  assert.equal(instancesFor(0, s), 1);
  assert.equal(instancesFor(0.8, s), 4, "0.8 × 5 is 4, not 5 by floating point");
  assert.equal(instancesFor(0.81, s), 5);
  assert.equal(instancesFor(1, s), 5);
  assert.equal(instancesFor(0, { peakInstances: 5, minInstances: 0 }), 0);
  assert.equal(weightFor(5, 5), 100);
  assert.equal(weightFor(1, 5), 20);
  assert.equal(weightFor(1, 64), 2);
  assert.equal(weightFor(0, 5), 0);
});

test("sun - local time from the longitude (or an override), the clock sped up, and its inverse", () => {
  const planet = parsePlanet(
    planetYaml(`sun:
  peakInstances: 4
  clockSpeed: 720
  shiftHours: 3
  sites: { sin: { utcOffsetHours: 8, peakInstances: 6 } }
${curve}`),
  );
  const nyc = siteSun(planet, planet.sites[0])!;
  const sin = siteSun(planet, planet.sites[2])!;
  assert.ok(Math.abs(nyc.utcOffsetHours - -74 / 15) < 1e-9);
  assert.equal(sin.utcOffsetHours, 8);
  assert.equal(sin.peakInstances, 6);
  assert.equal(nyc.minInstances, 1);
  // 720×: a simulated day passes in two real minutes.
  assert.equal(simulatedUtcMs(120_000, nyc) - simulatedUtcMs(0, nyc), dayMs);
  assert.equal(localHour(simulatedUtcMs(0, sin), sin.utcOffsetHours), 11, "shift 3 h + UTC+8");
  assert.equal(realMsAt(simulatedUtcMs(123_456, nyc), nyc), 123_456);
  // An injected clock: walk a simulated day at nyc and watch the count follow the curve.
  const t0 = realMsAt(Math.ceil(simulatedUtcMs(1e12, nyc) / dayMs) * dayMs, nyc); // simulated 00:00 UTC
  const counts = Array.from({ length: 24 }, (_, h) => {
    const at = realMsAt(simulatedUtcMs(t0, nyc) + (h * hourMs - nyc.utcOffsetHours * hourMs), nyc);
    return sunDecision(nyc, at).instances;
  });
  // local 0–6 h: 0.1 × 4 → 1; noon 4; 18:00 0.5 × 4 = 2.
  assert.deepEqual(counts.slice(0, 7), [1, 1, 1, 1, 1, 1, 1]);
  assert.equal(counts[12], 4);
  assert.equal(counts[18], 2);
  assert.ok(counts.every((c) => c >= 1 && c <= 4));
  const d = sunDecision(nyc, t0);
  assert.equal(d.weight, weightFor(d.instances, 4));
});

test("sun - a planet file's sun section is validated, each error naming the field and its line", () => {
  const bad = (sun: string) => {
    try {
      parsePlanet(planetYaml(sun), { file: "p.yaml" });
    } catch (e) {
      return (e as Error).message;
    }
    return "accepted";
  };
  assert.equal(siteSun(parsePlanet(planetYaml("")), parsePlanet(planetYaml("")).sites[0]), undefined);
  assert.match(
    bad(`sun:\n  peakInstances: 3\n  curve:\n    - { hour: 5, share: 0.1 }\n    - { hour: 4, share: 0.2 }\n`),
    /sun\.curve\[1\]\.hour \(p\.yaml:11\): hours must increase/,
  );
  assert.match(
    bad(`sun:\n  peakInstances: 3\n  curve:\n    - { hour: 24, share: 0.1 }\n`),
    /sun\.curve\[0\]\.hour \(p\.yaml:10\)/,
  );
  assert.match(bad(`sun:\n  peakInstances: 3\n  curve:\n    - { hour: 2, share: 1.5 }\n`), /sun\.curve\[0\]\.share/);
  assert.match(bad(`sun:\n  peakInstances: 2\n  minInstances: 3\n${curve}`), /sun\.minInstances \(p\.yaml:9\)/);
  assert.match(bad(`sun:\n  peakInstances: 2\n  sites: { paris: {} }\n${curve}`), /sun\.sites\.paris.*no such site/);
  assert.match(bad(`sun:\n  peakInstances: 2\n  clockSpeed: 0\n${curve}`), /sun\.clockSpeed/);
  assert.match(bad(`sun:\n  peakInstances: 2\n  sped: 3\n${curve}`), /sped/);
  assert.match(bad(`sun:\n  curve: []\n  peakInstances: 1\n`), /sun\.curve/);
});

test("sun - a clock re-anchored at a new speed goes on from where it stood, and every site given the anchor agrees", () => {
  const file = planetSunClock({ clockSpeed: 720, shiftHours: 3 });
  // The planet file's clock is the anchored form of realMs × speed + shift.
  for (const t of [0, 1, 123_456, 1.7e12]) {
    assert.equal(clockSimMs(file, t), simulatedUtcMs(t, { clockSpeed: 720, shiftHours: 3 }));
    assert.ok(Math.abs(clockRealMsAt(file, clockSimMs(file, t)) - t) < 1e-3);
  }
  const changeAt = 1_700_000_000_000;
  const fast = reanchor(file, changeAt, 3600);
  // Continuous at the change: no jump, at any speed, up and down.
  assert.equal(clockSimMs(fast, changeAt), clockSimMs(file, changeAt));
  // …and runs at the new rate after it: one real second is an hour.
  assert.equal(clockSimMs(fast, changeAt + 1000) - clockSimMs(fast, changeAt), hourMs);
  const slow = reanchor(fast, changeAt + 10_000, 1);
  assert.equal(clockSimMs(slow, changeAt + 10_000), clockSimMs(fast, changeAt + 10_000));
  assert.equal(clockSimMs(slow, changeAt + 11_000) - clockSimMs(slow, changeAt + 10_000), 1000);
  // Many changes in a row keep it continuous (no drift piles up across re-anchors).
  let c = file;
  let t = changeAt;
  for (const speed of [60, 3600, 1, 720, 10_000, 0.5]) {
    const next = reanchor(c, t, speed);
    assert.ok(Math.abs(clockSimMs(next, t) - clockSimMs(c, t)) < 1e-3, `at ×${speed}`);
    c = next;
    t += 7_777;
  }
  // Two sites that take the same anchor show the same simulated time (their local hours
  // differ only by their longitudes), whatever their own clocks read when they took it.
  const planet = parsePlanet(planetYaml(`sun:\n  peakInstances: 4\n  clockSpeed: 1\n${curve}`));
  const [nyc, lon] = [siteSun(planet, planet.sites[0])!, siteSun(planet, planet.sites[1])!];
  const later = changeAt + 90_000;
  const dn = sunDecision(nyc, later, fast);
  const dl = sunDecision(lon, later, fast);
  const sim = clockSimMs(fast, later);
  assert.ok(Math.abs(dn.localHour - localHour(sim, nyc.utcOffsetHours)) < 1e-9);
  assert.ok(
    Math.abs(((((dl.localHour - dn.localHour) % 24) + 24) % 24) - (lon.utcOffsetHours - nyc.utcOffsetHours)) < 1e-6,
  );
  // Without a clock given, the decision uses the planet file's (what a supervisor starts with).
  assert.deepEqual(sunDecision(nyc, later), sunDecision(nyc, later, planetSunClock(nyc)));
});
