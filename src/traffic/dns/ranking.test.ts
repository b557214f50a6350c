import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIpv4 } from "../../topology/index.ts";
import { buildLocator, locate } from "./locate.ts";
import { Ranker, type SiteHealth } from "./ranking.ts";
import { testPlanet } from "./testing.ts";

const planet = testPlanet(120);
const ip = (s: string): number => parseIpv4(s)!;
const allUp = (): Map<string, SiteHealth> =>
  new Map(
    planet.sites.map((s) => [s.name, { upHosts: planet.gateways.filter((g) => g.site === s.name).map((g) => g.host) }]),
  );

test("ranking - each region gets its nearest site first, then the others by distance", () => {
  const r = new Ranker(planet, buildLocator(planet));
  assert.deepEqual(r.rank(ip("10.1.0.0"), 24).sites, ["nyc", "lon", "sin"]);
  assert.deepEqual(r.rank(ip("10.3.0.0"), 24).sites, ["lon", "nyc", "sin"]);
  assert.deepEqual(r.rank(ip("10.4.0.0"), 24).sites, ["sin", "lon", "nyc"]);
  assert.equal(r.rank(ip("10.5.0.0"), 24).sites[0], "sin");
  assert.equal(r.rank(ip("10.2.0.0"), 24).sites[0], "nyc");
  // A client inside a site's own subnet is at that site.
  assert.deepEqual(r.rank(ip("127.122.4.7"), 32).sites[0], "sin");
  // Every gateway of every site is listed, the nearest site's first.
  assert.deepEqual(r.rank(ip("10.3.0.0"), 16).hosts, [
    "127.121.2.1",
    "127.121.2.2",
    "127.120.2.1",
    "127.120.2.2",
    "127.122.2.1",
    "127.122.2.2",
  ]);
  // Unknown clients get planet order.
  assert.deepEqual(r.rank(ip("192.0.2.1"), 32).sites, ["nyc", "lon", "sin"]);
  assert.deepEqual(r.rank(undefined, 0).sites, ["nyc", "lon", "sin"]);
});

test("ranking - the ECS scope is the prefix the decision used, and never hides a known network", () => {
  const loc = buildLocator(planet);
  const at = (addr: string, bits: number) => {
    const l = locate(loc, ip(addr), bits);
    return [l.network?.name, l.scopePrefixLength];
  };
  // A client network alone in its neighbourhood: the scope is its prefix.
  assert.deepEqual(at("10.1.0.0", 24), ["us-east", 16]);
  assert.deepEqual(at("10.1.0.0", 16), ["us-east", 16]);
  // Europe holds a /24 office at 10.3.7.0: an answer for 10.3.0.0 must not cover the
  // office, so the scope grows to the widest block without it (10.3.0.0/22), even past a
  // /16 source prefix (RFC 7871 allows scope > source: "more bits would change this").
  assert.deepEqual(at("10.3.0.0", 24), ["europe", 22]);
  assert.deepEqual(at("10.3.0.0", 16), ["europe", 22]);
  assert.deepEqual(at("10.3.7.0", 24), ["paris-office", 24]);
  // Sharing the office's /23: the scope narrows to /24.
  assert.deepEqual(at("10.3.6.0", 24), ["europe", 24]);
  // Unknown clients: the widest block holding no known network, not /0.
  const unknown = locate(loc, ip("10.7.0.0"), 24);
  assert.equal(unknown.network, undefined);
  // 10.6.0.0/15 holds no known network (asia-east is 10.5/16).
  assert.equal(unknown.scopePrefixLength, 15);
  assert.ok(locate(loc, ip("192.0.2.0"), 24).scopePrefixLength >= 1);
  // The ranker passes the scope on, and drops it to 0 when only one site can be listed.
  const r = new Ranker(planet, loc);
  assert.equal(r.rank(ip("10.1.0.0"), 24).scopePrefixLength, 16);
  const onlyLon = allUp();
  onlyLon.set("nyc", { upHosts: [] });
  onlyLon.set("sin", { upHosts: [] });
  r.update(onlyLon, {});
  assert.equal(r.rank(ip("10.1.0.0"), 24).scopePrefixLength, 0);
});

test("ranking - unhealthy sites and gateways leave the answer; if every site is down, all are listed", () => {
  const r = new Ranker(planet, buildLocator(planet));
  const h = allUp();
  h.set("lon", { upHosts: [] });
  h.set("nyc", { upHosts: ["127.120.2.2"] });
  r.update(h, {});
  const eu = r.rank(ip("10.3.0.0"), 24);
  assert.deepEqual(eu.sites, ["nyc", "sin"]);
  assert.deepEqual(eu.hosts, ["127.120.2.2", "127.122.2.1", "127.122.2.2"]);
  r.update(new Map(planet.sites.map((s) => [s.name, { upHosts: [] }])), {});
  const all = r.rank(ip("10.3.0.0"), 24);
  assert.deepEqual(all.sites, ["lon", "nyc", "sin"]);
  assert.equal(all.hosts.length, 6);
});

test("ranking - weight 0 evacuates a site unless nothing else is healthy; lower weight shrinks a catchment", () => {
  const r = new Ranker(planet, buildLocator(planet));
  r.update(allUp(), { lon: 0 });
  assert.deepEqual(r.rank(ip("10.3.0.0"), 24).sites, ["nyc", "sin"]);
  // Only evacuated sites are healthy: they are listed rather than nothing.
  const h = allUp();
  h.set("nyc", { upHosts: [] });
  h.set("sin", { upHosts: [] });
  r.update(h, { lon: 0 });
  assert.deepEqual(r.rank(ip("10.1.0.0"), 24).sites, ["lon"]);
  // Follow the sun: London at weight 5 looks 20× as far; Europe now goes to New York
  // first, while a client in London's own subnet still goes to London.
  r.update(allUp(), { lon: 5 });
  assert.deepEqual(r.rank(ip("10.3.0.0"), 24).sites, ["nyc", "sin", "lon"]);
  assert.equal(r.rank(ip("127.121.9.9"), 32).sites[0], "lon");
  // Unknown clients: higher weight first.
  r.update(allUp(), { nyc: 50 });
  assert.deepEqual(r.rank(undefined, 0).sites, ["lon", "sin", "nyc"]);
});
