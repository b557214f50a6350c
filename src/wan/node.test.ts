import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { createLogger, isRedshirtError, ManualClock, seededRandom } from "../core/index.ts";
import { parsePlanet } from "../topology/index.ts";
import { linkHostSite, linksBetween, WanNode } from "./index.ts";

const example = readFileSync(new URL("../../examples/planet.yaml", import.meta.url), "utf8");
const demo = parsePlanet(example);
const components = { clock: new ManualClock(), random: seededRandom(1), log: createLogger({}, { level: "error" }) };
const secret = Buffer.alloc(32, 7);

test("wan node - a site's link process hosts its outbound links and every region's access link to it", () => {
  const node = new WanNode({ planet: demo, site: "lon", secret }, components);
  assert.deepEqual(
    node.list().map((l) => l.id),
    [
      "lon->nyc",
      "lon->sin",
      "us-east->lon",
      "us-west->lon",
      "europe->lon",
      "india->lon",
      "asia-east->lon",
      "australia->lon",
    ],
  );
  const toSin = node.link("lon", "sin").status();
  assert.equal(toSin.bandwidthMbps, 200);
  assert.equal(toSin.jitterMs, 1);
  assert.ok(Math.abs(toSin.rttMs - 162.7) < 0.5);
  // Outbound: 3 stores × 2 ports + 2 gateways + DNS udp, tcp and admin; access: 2 gateways + DNS udp and tcp.
  assert.equal(node.listenerCount, 2 * 11 + 6 * 4);
  assert.throws(() => node.link("nyc", "sin"), /site lon hosts lon->nyc, lon->sin, us-east->lon/);
});

test("wan node - refuses a direct planet and an unknown site", () => {
  const direct = parsePlanet(example.replace("mode: emulated", "mode: direct"));
  assert.throws(
    () => new WanNode({ planet: direct, site: "lon", secret }, components),
    (e) => isRedshirtError(e, "RS_ERR_WAN_DIRECT"),
  );
  assert.throws(
    () => new WanNode({ planet: demo, site: "mars", secret }, components),
    (e) => isRedshirtError(e, "RS_ERR_WAN_UNKNOWN_SITE") && /"mars" is not a site/.test(e.message),
  );
});

test("wan node - which process hosts a link, and the links between two places", () => {
  assert.equal(linkHostSite(demo, "nyc", "lon"), "nyc");
  assert.equal(linkHostSite(demo, "europe", "lon"), "lon");
  assert.throws(() => linkHostSite(demo, "lon", "europe"), /a link goes to a site, and europe is not one/);
  assert.deepEqual(linksBetween(demo, "nyc", "lon"), [
    { from: "nyc", to: "lon" },
    { from: "lon", to: "nyc" },
  ]);
  assert.deepEqual(linksBetween(demo, "europe", "lon"), [{ from: "europe", to: "lon" }]);
  assert.deepEqual(linksBetween(demo, "lon", "europe"), [{ from: "europe", to: "lon" }]);
});

test("wan node - a cut or slow with a ttl reverts itself at expiry; heal and unslow end it early; a new plain slow takes over", () => {
  const clock = new ManualClock();
  const node = new WanNode({ planet: demo, site: "lon", secret }, { ...components, clock });
  const link = node.link("lon", "nyc");
  const base = link.status();
  const cut = node.cut("lon", "nyc", { ttlMs: 5_000, faultId: "f1" });
  assert.equal(cut.cut, true);
  assert.deepEqual(cut.fault, { id: "f1", kind: "cut", ttlMs: 5_000, expiresInMs: 5_000 });
  clock.advance(4_999);
  assert.equal(link.status().cut, true, "still cut before the ttl");
  clock.advance(1);
  assert.equal(link.status().cut, false, "healed by the link process itself at the ttl");
  assert.equal(link.status().fault, null);

  node.cut("lon", "nyc", { ttlMs: 5_000, faultId: "f2" });
  node.heal("lon", "nyc");
  assert.equal(link.status().fault, null, "a heal ends the fault");
  clock.advance(10_000);
  assert.equal(link.status().cut, false);

  node.slow("lon", "nyc", { extraDelayMs: 300, bandwidthMbps: 1 }, { ttlMs: 2_000, faultId: "f3" });
  node.slow("lon", "nyc", { extraDelayMs: 500 }, { ttlMs: 3_000, faultId: "f4" });
  assert.equal(link.status().extraDelayMs, 500);
  clock.advance(3_000);
  assert.equal(link.status().extraDelayMs, base.extraDelayMs, "the settings from before the first slow come back");
  assert.equal(link.status().bandwidthMbps, base.bandwidthMbps);

  node.slow("lon", "nyc", { extraDelayMs: 100 }, { ttlMs: 2_000, faultId: "f5" });
  node.unslow("lon", "nyc");
  assert.equal(link.status().extraDelayMs, base.extraDelayMs, "unslow lifts it at once");
  node.slow("lon", "nyc", { extraDelayMs: 100 }, { ttlMs: 2_000, faultId: "f6" });
  node.slow("lon", "nyc", { extraDelayMs: 50 });
  clock.advance(5_000);
  assert.equal(link.status().extraDelayMs, 50, "an operator's plain slow after a timed one stays");
  assert.equal(link.status().fault, null);
});
