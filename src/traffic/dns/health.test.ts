import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, ManualClock, seededRandom } from "../../core/index.ts";
import type { NodeInfo } from "../../topology/index.ts";
import { peerViewStaleMs, siteDownDeadlineMs } from "./constants.ts";
import { HealthMonitor, type View } from "./health.ts";
import { testPlanet } from "./testing.ts";
import { downVotesNeeded, upByVotes } from "./votes.ts";
import { WeightStore } from "./weights.ts";

const quiet = createLogger({}, { write: () => {} });
const planet = testPlanet(120);

test("votes - a lone vantage point decides alone; otherwise at least two and a majority must agree", () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map(downVotesNeeded), [1, 1, 2, 2, 3, 3, 4]);
  assert.equal(upByVotes([]), true);
  assert.equal(upByVotes(["down"]), false);
  assert.equal(upByVotes(["down", "up"]), true);
  assert.equal(upByVotes(["down", "down"]), false);
  assert.equal(upByVotes(["down", "up", "up"]), true);
  assert.equal(upByVotes(["down", "down", "up"]), false);
  assert.equal(upByVotes(["down", "down", "up", "up"]), true);
});

/**
 * A simulated planet of DNS servers on one manual clock: each monitor probes through a
 * table of which vantage point can reach which gateway, and reads its peers' views
 * directly (or fails to, when the peer is cut off).
 */
function simulate(options: {
  reachable: (from: string, gateway: NodeInfo) => boolean;
  peerReachable?: (from: string, to: string) => boolean;
}) {
  const clock = new ManualClock();
  const monitors = new Map<string, HealthMonitor>();
  const weights = new Map<string, WeightStore>();
  for (const self of planet.dnsServers) {
    const store = new WeightStore(
      planet.sites.map((s) => s.name),
      self.id,
      clock,
    );
    weights.set(self.id, store);
    const m = new HealthMonitor(
      {
        clock,
        random: seededRandom(self.index * 7 + self.id.length),
        logger: quiet,
        probe: async (g) => options.reachable(self.id, g),
        fetchView: async (peer): Promise<View> => {
          if (options.peerReachable && !options.peerReachable(self.id, peer.id)) throw new Error("cut off");
          return monitors.get(peer.id)!.ownView();
        },
      },
      { planet, self, weights: store, onChange: () => {} },
    );
    monitors.set(self.id, m);
  }
  return { clock, monitors, weights };
}

async function advance(clock: ManualClock, ms: number, stepMs = 50): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    // Let the probe and read promises settle between steps.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

const sitesUp = (m: HealthMonitor): string[] =>
  [...m.siteHealth()].filter(([, h]) => h.upHosts.length > 0).map(([s]) => s);

test("health - a site whose gateways die leaves every server's answers within the deadline", async () => {
  let lonDead = false;
  const sim = simulate({ reachable: (_from, g) => !(lonDead && g.site === "lon") });
  await Promise.all([...sim.monitors.values()].map((m) => m.start()));
  await advance(sim.clock, 1000);
  for (const m of sim.monitors.values()) assert.deepEqual(sitesUp(m), ["nyc", "lon", "sin"]);
  lonDead = true;
  let goneAtMs: number | undefined;
  for (let t = 0; t <= siteDownDeadlineMs && goneAtMs === undefined; t += 50) {
    await advance(sim.clock, 50);
    if ([...sim.monitors.values()].every((m) => !sitesUp(m).includes("lon"))) goneAtMs = t + 50;
  }
  assert.ok(
    goneAtMs !== undefined && goneAtMs <= siteDownDeadlineMs,
    `lon still answered after ${siteDownDeadlineMs} ms`,
  );
  // And it comes back once its gateways answer again.
  lonDead = false;
  await advance(sim.clock, 2000);
  for (const m of sim.monitors.values()) assert.deepEqual(sitesUp(m), ["nyc", "lon", "sin"]);
  for (const m of sim.monitors.values()) await m.stop();
});

test("health - a site cut off from one DNS server only stays in every server's answers", async () => {
  const sim = simulate({ reachable: (from, g) => !(from === "nyc-dns1" && g.site === "sin") });
  await Promise.all([...sim.monitors.values()].map((m) => m.start()));
  await advance(sim.clock, 3000);
  const nyc = sim.monitors.get("nyc-dns1")!;
  assert.equal(nyc.ownSiteUp("sin"), false, "nyc's own probes see sin down");
  for (const m of sim.monitors.values()) assert.deepEqual(sitesUp(m), ["nyc", "lon", "sin"]);
  for (const m of sim.monitors.values()) await m.stop();
});

test("health - a server cut off from every peer trusts its own view; stale views stop voting", async () => {
  // nyc-dns1 is isolated: it reaches no peer and no other site's gateway.
  const isolated = (id: string) => id === "nyc-dns1";
  const sim = simulate({
    reachable: (from, g) => !isolated(from) || g.site === "nyc",
    peerReachable: (from, to) => !isolated(from) && !isolated(to),
  });
  await Promise.all([...sim.monitors.values()].map((m) => m.start()));
  await advance(sim.clock, peerViewStaleMs + 1500);
  assert.deepEqual(sitesUp(sim.monitors.get("nyc-dns1")!), ["nyc"]);
  // The others no longer hear nyc-dns1, and see every site up.
  assert.deepEqual(sitesUp(sim.monitors.get("lon-dns1")!), ["nyc", "lon", "sin"]);
  assert.deepEqual(sim.monitors.get("lon-dns1")!.peerFreshness(), [
    ["nyc-dns1", false],
    ["sin-dns1", true],
  ]);
  for (const m of sim.monitors.values()) await m.stop();
});

test("health - two sites' weights set at once on different servers both survive (per-site registers)", async () => {
  const sim = simulate({ reachable: () => true });
  await Promise.all([...sim.monitors.values()].map((m) => m.start()));
  // As two supervisors do: each sets its own site's weight, on a different server, at the same moment.
  sim.weights.get("sin-dns1")!.setSiteFromBody("sin", { weight: 30 });
  sim.weights.get("nyc-dns1")!.setSiteFromBody("nyc", { weight: 0 });
  await advance(sim.clock, 1000);
  for (const w of sim.weights.values()) assert.deepEqual(w.config.weights, { sin: 30, nyc: 0 });
  sim.clock.advance(10);
  sim.weights.get("lon-dns1")!.setSiteFromBody("nyc", { weight: 100 });
  await advance(sim.clock, 1000);
  for (const w of sim.weights.values()) assert.deepEqual(w.config.weights, { sin: 30 });
  for (const m of sim.monitors.values()) await m.stop();
});

test("health - weights set on one server reach every server through the views, newest wins", async () => {
  const sim = simulate({ reachable: () => true });
  await Promise.all([...sim.monitors.values()].map((m) => m.start()));
  sim.weights.get("sin-dns1")!.setFromBody({ weights: { lon: 0 } });
  await advance(sim.clock, 1000);
  for (const w of sim.weights.values()) assert.deepEqual(w.config.weights, { lon: 0 });
  sim.clock.advance(10);
  sim.weights.get("nyc-dns1")!.setFromBody({ weights: { sin: 40 } });
  await advance(sim.clock, 1000);
  for (const w of sim.weights.values()) assert.deepEqual(w.config.weights, { sin: 40 });
  assert.throws(() => sim.weights.get("nyc-dns1")!.setFromBody({ weights: { mars: 1 } }), /unknown sites: mars/);
  assert.throws(() => sim.weights.get("nyc-dns1")!.setFromBody({ weights: { lon: 101 } }), /RS_ERR|Invalid/);
  for (const m of sim.monitors.values()) await m.stop();
});
