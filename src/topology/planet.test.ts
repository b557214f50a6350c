import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { isRedshirtError } from "../core/index.ts";
import {
  dialAddress,
  greatCircleKm,
  locateClient,
  parsePlanet,
  rttMsForKm,
  siteLinks,
  siteRttMs,
  sitesByDistance,
  storeNode,
  topologyConstants,
} from "./index.ts";

const example = readFileSync(new URL("../../examples/planet.yaml", import.meta.url), "utf8");

test("topology - the example planet has three sites on three continents with their own subnets", () => {
  const planet = parsePlanet(example);
  assert.deepEqual(
    planet.sites.map((s) => [s.name, s.subnetCidr.text]),
    [
      ["nyc", "127.10.0.0/16"],
      ["lon", "127.11.0.0/16"],
      ["sin", "127.12.0.0/16"],
    ],
  );
  assert.equal(planet.storeNodes.length, 9);
  assert.equal(storeNode(planet, "lon-store2").host, "127.11.1.2");
  assert.equal(planet.gateways[0].host, "127.10.2.1");
});

test("topology - great-circle distance New York to London is about 5570 km and implies ~84 ms RTT", () => {
  const km = greatCircleKm({ lat: 40.7128, lon: -74.006 }, { lat: 51.5074, lon: -0.1278 });
  assert.ok(Math.abs(km - 5570) < 15, `got ${km}`);
  assert.ok(Math.abs(rttMsForKm(km) - 83.6) < 0.5);
  assert.equal(greatCircleKm({ lat: 10, lon: 10 }, { lat: 10, lon: 10 }), 0);
  const planet = parsePlanet(example);
  assert.ok(siteRttMs(planet, "nyc", "sin") > siteRttMs(planet, "nyc", "lon"));
});

test("topology - clients are located by the most specific network, and sites sorted nearest first", () => {
  const planet = parsePlanet(example);
  assert.equal(locateClient(planet, "10.3.7.7")?.name, "europe");
  assert.equal(locateClient(planet, "127.12.4.1")?.name, "sin");
  assert.equal(locateClient(planet, "192.0.2.1"), undefined);
  const europe = locateClient(planet, "10.3.0.1")!;
  assert.deepEqual(
    sitesByDistance(planet, europe.at).map((s) => s.name),
    ["lon", "nyc", "sin"],
  );
  const india = locateClient(planet, "10.4.0.1")!;
  assert.equal(sitesByDistance(planet, india.at)[0].name, "sin");
});

function invalid(text: string): string {
  try {
    parsePlanet(text, { file: "p.yaml" });
  } catch (err) {
    assert.ok(isRedshirtError(err));
    return err.message;
  }
  assert.fail("expected the planet to be rejected");
}

test("topology - an invalid planet names the bad field and its line", () => {
  const msg = invalid("name: x\nzone: z.\nsites:\n  - name: a\n    city: A\n    lat: 91\n    lon: 0\n");
  assert.match(msg, /sites\[0\]\.lat \(p\.yaml:6\)/);
  assert.match(invalid("name: x\nzone: z.\nsites: []\n"), /sites \(p\.yaml:3\)/);
  assert.match(
    invalid("name: x\nzone: z.\nsites:\n  - name: a\n    city: A\n    lat: 1\n    lon: 0\n    colour: red\n"),
    /colour/,
  );
  assert.match(
    invalid("name: x\nzone: nodot\nsites:\n  - { name: a, city: A, lat: 1, lon: 0 }\n"),
    /zone \(p\.yaml:2\)/,
  );
  assert.match(
    invalid(
      "name: x\nzone: z.\nsites:\n  - { name: a, city: A, lat: 1, lon: 0 }\n  - { name: a, city: B, lat: 2, lon: 0 }\n",
    ),
    /sites\[1\]\.name.*duplicate/,
  );
  assert.match(invalid("name: x\nzone: z.\nsites: [\n"), /RS_ERR_TOPOLOGY_YAML|not valid YAML/);
  assert.match(
    invalid("name: x\nzone: z.\nsites:\n  - { name: a, city: A, lat: 1, lon: 0, tiers: { store: 2 } }\n"),
    /rf=3/,
  );
});

test("topology - overlapping site subnets are rejected", () => {
  const msg = invalid(
    "name: x\nzone: z.\nsites:\n  - { name: a, city: A, lat: 1, lon: 0, subnet: 127.20.0.0/16 }\n  - { name: b, city: B, lat: 1, lon: 0, subnet: 127.20.0.0/16 }\n",
  );
  assert.match(msg, /overlaps/);
});

test("topology - the multi-host example gives each site its routed /16, dialed as it is (no link proxies)", () => {
  const planet = parsePlanet(readFileSync(new URL("../../examples/planet-hosts.yaml", import.meta.url), "utf8"));
  assert.equal(planet.wan.mode, "direct");
  assert.deepEqual(
    planet.sites.map((s) => s.subnetCidr.text),
    ["10.81.0.0/16", "10.82.0.0/16", "10.83.0.0/16"],
  );
  assert.equal(storeNode(planet, "lon-store2").host, "10.82.1.2");
  assert.deepEqual(planet.wanProcesses, []);
  assert.deepEqual(siteLinks(planet, "nyc"), []);
  assert.deepEqual(dialAddress(planet, "nyc", { host: "10.83.2.1", port: 8080, site: "sin" }), {
    host: "10.83.2.1",
    port: 8080,
  });
});

test("topology - the gateway section defaults to the named constants; bad values and unknown services name the field", () => {
  const base = "name: g\nzone: g.test.\nservices: [www, api]\nsites:\n  - { name: a, city: A, lat: 0, lon: 0 }\n";
  const planet = parsePlanet(base);
  assert.equal(planet.gateway.headTimeoutMs, topologyConstants.gatewayHeadTimeoutMsDefault);
  assert.equal(planet.gateway.connectionsPerSourceMax, topologyConstants.gatewayConnectionsPerSourceMaxDefault);
  assert.equal(planet.gateway.pendingPerInstanceMax, topologyConstants.gatewayPendingPerInstanceMaxDefault);
  assert.deepEqual(planet.gateway.services, {});
  const shop = parsePlanet(
    `${base}gateway:\n  headTimeoutMs: 2000\n  services:\n    api: { idempotencyKeyRetries: true }\n`,
  );
  assert.equal(shop.gateway.headTimeoutMs, 2000);
  assert.deepEqual(shop.gateway.services.api, { idempotencyKeyRetries: true, appDedupsThroughStore: false });
  const refused = (text: string, field: RegExp): void => {
    assert.throws(
      () => parsePlanet(text),
      (e: unknown) => isRedshirtError(e) && field.test(e.message),
    );
  };
  refused(`${base}gateway: { headTimeoutMs: 0 }\n`, /gateway\.headTimeoutMs \(planet:6\)/);
  refused(`${base}gateway: { connectionsPerSourceMax: -1 }\n`, /gateway\.connectionsPerSourceMax/);
  refused(`${base}gateway: { services: { shop: {} } }\n`, /gateway\.services\.shop.*no such service/);
  refused(
    `${base}gateway: { services: { www: { appDedupsThroughStore: true } } }\n`,
    /gateway\.services\.www\.idempotencyKeyRetries/,
  );
  refused(`${base}gateway: { headTimeout: 5 }\n`, /gateway.*headTimeout/);
});

test("topology - services take fallbackSites (default 0), DNS settings have defaults and bounds, and each DNS server has a management address", () => {
  const base =
    "name: x\nzone: z.test.\nsites:\n  - { name: a, city: A, lat: 1, lon: 0 }\n  - { name: b, city: B, lat: 2, lon: 0 }\n";
  const plain = parsePlanet(base);
  assert.deepEqual(plain.services, ["www"]);
  assert.deepEqual(plain.serviceOptions, { www: { fallbackSites: 0 } });
  assert.deepEqual(plain.dns, {
    ttlS: 5,
    rrl: { responsesPerS: 200, slip: 2 },
    tcpConnectionsPerSource: 32,
    responseCache: true,
  });
  // The admin endpoint is on .7.k (the DNS port + 1), never the public .3.k.
  assert.deepEqual(
    plain.dnsAdmins.map((a) => [a.id, a.host, a.port]),
    [
      ["a-dns1-admin", "127.10.7.1", 5354],
      ["b-dns1-admin", "127.11.7.1", 5354],
    ],
  );
  const options = parsePlanet(`${base}services: [www, { name: api, fallbackSites: 1 }]\n`);
  assert.deepEqual(options.services, ["www", "api"]);
  assert.equal(options.serviceOptions.api.fallbackSites, 1);
  const invalid = (text: string): string => {
    try {
      parsePlanet(text, { file: "p.yaml" });
    } catch (err) {
      assert.ok(isRedshirtError(err, "RS_ERR_TOPOLOGY_INVALID"), String(err));
      return err.message;
    }
    assert.fail("expected RS_ERR_TOPOLOGY_INVALID");
  };
  assert.match(invalid(`${base}services: [www, www]\n`), /services\[1\].*duplicate service name www/);
  assert.match(invalid(`${base}services: [{ name: www, fallbackSites: -1 }]\n`), /services\[0\]/);
  assert.match(invalid(`${base}dns: { rrl: { slip: 11 } }\n`), /dns\.rrl\.slip/);
  assert.match(invalid(`${base}dns: { tcpConnectionsPerSource: 0 }\n`), /dns\.tcpConnectionsPerSource/);
});
