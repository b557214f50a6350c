import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../topology/index.ts";
import { headerSchema } from "../verify/index.ts";
import { loadHistoryHeader, runLoad, userRandom, userSubnet } from "./run-load.ts";

const planet = parsePlanet(`name: hdr
zone: hdr.test.
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01 }
  - { name: lon, city: London, lat: 51.51, lon: -0.13 }
clients:
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0 }
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68 }
  - { name: office, cidr: 10.3.7.0/26, lat: 48.85, lon: 2.35 }
`);

test("load run - the history header names every region with its nearest site, and the reader accepts it", () => {
  const header = loadHistoryHeader(planet, { seed: 9, commit: "abc", durationMsPlanned: 1_000 });
  assert.deepEqual(header.regions, [
    { name: "us-east", nearestSite: "nyc" },
    { name: "europe", nearestSite: "lon" },
    { name: "office", nearestSite: "lon" },
  ]);
  assert.deepEqual(header.sites, [{ name: "nyc" }, { name: "lon" }]);
  headerSchema.parse(header);
  assert.deepEqual(loadHistoryHeader(planet, { seed: 9, commit: "abc", regions: ["europe"] }).regions, [
    { name: "europe", nearestSite: "lon" },
  ]);
});

test("load run - each user asks with their own /24 inside the region's network (the network itself when smaller)", () => {
  assert.deepEqual(userSubnet("10.3.0.0/16", 0), { ip: "10.3.0.0", prefix: 24 });
  assert.deepEqual(userSubnet("10.3.0.0/16", 7), { ip: "10.3.7.0", prefix: 24 });
  assert.deepEqual(userSubnet("10.3.0.0/16", 256), { ip: "10.3.0.0", prefix: 24 });
  assert.deepEqual(userSubnet("10.3.7.0/26", 3), { ip: "10.3.7.0", prefix: 26 });
});

test("load run - user streams are seeded by run, region and user, and differ between them", () => {
  const draw = (...a: [number, number, number, number]) =>
    Array.from(
      { length: 4 },
      (
        (r) => () =>
          r.next()
      )(userRandom(...a)),
    );
  assert.deepEqual(draw(1, 0, 0, 0), draw(1, 0, 0, 0));
  assert.notDeepEqual(draw(1, 0, 0, 0), draw(2, 0, 0, 0));
  assert.notDeepEqual(draw(1, 0, 0, 0), draw(1, 1, 0, 0));
  assert.notDeepEqual(draw(1, 0, 0, 0), draw(1, 0, 1, 0));
  assert.notDeepEqual(draw(1, 0, 0, 0), draw(1, 0, 0, 1));
});

test("load run - bad options are refused with the option named", async () => {
  const history = { write: async () => {} };
  const base = { planet, seed: 1, durationMs: 10, usersPerRegion: 1, history };
  await assert.rejects(runLoad({ ...base, usersPerRegion: 0 }), /RS_ERR_LOAD_OPTIONS|usersPerRegion must be in 1/);
  await assert.rejects(runLoad({ ...base, durationMs: -1 }), /durationMs must be in/);
  await assert.rejects(runLoad({ ...base, regions: ["mars"] }), /region mars is not a client region/);
  await assert.rejects(runLoad({ ...base, runId: "bad id!" }), /runId must be/);
  const empty = parsePlanet("name: e\nzone: e.test.\nsites:\n  - { name: nyc, city: NY, lat: 40, lon: -74 }\n");
  await assert.rejects(runLoad({ ...base, planet: empty }), /no client regions/);
});
