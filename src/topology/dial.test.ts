import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { isRedshirtError } from "../core/index.ts";
import { storeConstants } from "../store/index.ts";
import { dnsConstants } from "../traffic/index.ts";
import {
  dialAddress,
  dialTarget,
  endpointOf,
  linkOneWayMs,
  type Planet,
  parsePlanet,
  roleAddress,
  siteByName,
  siteLinks,
  topologyConstants,
} from "./index.ts";

const example = readFileSync(new URL("../../examples/planet.yaml", import.meta.url), "utf8");
const demo = parsePlanet(example, { file: "planet.yaml" });

function refused(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isRedshirtError(err, code), String(err));
    return err.message;
  }
  assert.fail(`expected ${code}`);
}

test("topology dial - nyc dials London's gateway through its own link proxy; the same site and direct planets dial the target", () => {
  const lonGw = demo.gateways.find((g) => g.site === "lon")!;
  assert.deepEqual(dialAddress(demo, "nyc", lonGw), { host: "127.10.133.1", port: 8080 });
  const nycGw = demo.gateways.find((g) => g.site === "nyc")!;
  assert.deepEqual(dialAddress(demo, "nyc", nycGw), { host: nycGw.host, port: nycGw.port });
  // A store node of site lon dialing peer node 3 of sin, on the peer port.
  const sin3 = demo.storeNodes.find((n) => n.id === "sin-store3")!;
  assert.deepEqual(dialAddress(demo, "lon", { ...sin3, port: 7401 }), { host: "127.11.136.3", port: 7401 });
  // A user in the europe region (its block 127.202/16) dialing London's DNS over its access link.
  const lonDns = demo.dnsServers.find((d) => d.site === "lon")!;
  assert.deepEqual(dialAddress(demo, "europe", lonDns), { host: "127.202.134.1", port: 5353 });
  const direct = parsePlanet(example.replace("mode: emulated", "mode: direct"));
  assert.deepEqual(dialAddress(direct, "nyc", lonGw), { host: lonGw.host, port: lonGw.port });
  assert.deepEqual(dialAddress(direct, "europe", lonGw), { host: lonGw.host, port: lonGw.port });
  assert.equal(direct.wanProcesses.length, 0);
  assert.deepEqual(siteLinks(direct, "nyc"), []);
});

test("topology dial - the reverse mapping gives back dialer and target for every proxy a link process listens on", () => {
  const all = new Set<string>();
  for (const site of demo.sites) {
    for (const link of siteLinks(demo, site.name)) {
      for (const l of link.listeners) {
        const key = `${l.target.protocol} ${l.listen.host}:${l.listen.port}`;
        assert.ok(!all.has(key), `two listeners on ${key}`);
        all.add(key);
        assert.deepEqual(dialTarget(demo, l.listen.host, l.listen.port), {
          from: link.from,
          target: { host: l.target.host, port: l.target.port, site: l.target.site },
        });
        assert.equal(l.target.site, link.to);
        // Never an address of the plan itself (roles sit at third octets 1..5).
        assert.ok(Number(l.listen.host.split(".")[2]) >= 128, l.listen.host);
      }
    }
  }
  // nyc hosts 2 outbound links (3 stores × 2 ports + 2 gateways + DNS udp, tcp and admin = 11 each)
  // and 6 access links (2 gateways + DNS udp and tcp = 4 each).
  assert.equal(
    siteLinks(demo, "nyc").reduce((n, l) => n + l.listeners.length, 0),
    2 * 11 + 6 * 4,
  );
  assert.equal(dialTarget(demo, "127.10.2.1", 8080), undefined, "a gateway's own address is no proxy");
});

test("topology dial - for any planet shape, dialing and reversing agree and stay inside the dialer's block", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 32 }),
      fc.nat(),
      fc.nat(),
      fc.constantFrom("store", "gateway", "dns" as const),
      fc.integer({ min: 1, max: 8 }),
      (n, a, b, role, k) => {
        const sites = Array.from(
          { length: n },
          (_, i) => `  - { name: s${i}, city: C, lat: ${(i * 7) % 80}, lon: ${(i * 13) % 170} }`,
        );
        const planet: Planet = parsePlanet(`name: p\nzone: p.test.\nsites:\n${sites.join("\n")}\n`);
        const from = planet.sites[a % n];
        const to = planet.sites[b % n];
        const host = roleAddress(to.subnetCidr, role, k);
        const port = role === "store" ? 7400 : role === "gateway" ? 8080 : 5353;
        const addr = dialAddress(planet, from.name, { host, port, site: to.name });
        if (from.name === to.name) return assert.equal(addr.host, host);
        assert.ok(addr.host.startsWith(`127.${10 + from.index}.`), addr.host);
        assert.deepEqual(dialTarget(planet, addr.host, addr.port), {
          from: from.name,
          target: { host, port, site: to.name },
        });
      },
    ),
    { numRuns: 300 },
  );
});

test("topology dial - what no link carries is refused with a message that says why", () => {
  const lonGw = demo.gateways.find((g) => g.site === "lon")!;
  assert.match(
    refused(() => dialAddress(demo, "mars", lonGw), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /"mars" is neither a site/,
  );
  assert.match(
    refused(() => dialAddress(demo, "nyc", { ...lonGw, site: "atlantis" }), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /target site "atlantis"/,
  );
  assert.match(
    refused(() => dialAddress(demo, "nyc", { ...lonGw, host: "127.12.2.1" }), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /127\.12\.2\.1 is not an address of site lon/,
  );
  assert.match(
    refused(() => dialAddress(demo, "nyc", { ...lonGw, port: 9999 }), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /carries 8080 \(http\) to a gateway/,
  );
  const lonApp = { host: roleAddress(siteByName(demo, "lon")!.subnetCidr, "app", 1), port: 9000, site: "lon" };
  assert.match(
    refused(() => dialAddress(demo, "nyc", lonApp), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /carries nothing/,
  );
  // A DNS server's management address is reached from other sites (peers, supervisors),
  // through the link's DNS admin slot, and never from a region's users.
  const lonAdmin = demo.dnsAdmins.find((a) => a.site === "lon")!;
  assert.deepEqual(dialAddress(demo, "nyc", lonAdmin), { host: "127.10.135.1", port: 5354 });
  assert.match(
    refused(() => dialAddress(demo, "europe", lonAdmin), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /a link from a region carries nothing to a dnsAdmin/,
  );
  assert.match(
    refused(() => dialAddress(demo, "nyc", { ...lonAdmin, host: "127.11.3.1" }), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /carries 5353 \(dns\), 5353 \(dns\) to a dns/,
  );
  const store = demo.storeNodes.find((s) => s.site === "lon")!;
  assert.match(
    refused(() => dialAddress(demo, "europe", store), "RS_ERR_TOPOLOGY_NO_ROUTE"),
    /a link from a region carries nothing to a store/,
  );
});

test("topology dial - link delays come from the distance: New York–London ~84 ms and New York–Singapore ~230 ms round trips", () => {
  assert.ok(Math.abs(2 * linkOneWayMs(demo, "nyc", "lon") - 83.6) < 0.5);
  assert.ok(Math.abs(2 * linkOneWayMs(demo, "nyc", "sin") - 230) < 1);
  assert.ok(linkOneWayMs(demo, "europe", "lon") < linkOneWayMs(demo, "europe", "sin"));
  assert.deepEqual(endpointOf(demo, "127.11.2.1", 8080), { host: "127.11.2.1", port: 8080, site: "lon" });
  assert.equal(endpointOf(demo, "10.0.0.1", 80), undefined);
});

test("topology dial - region blocks never overlap sites or each other, and errors name the field and its line", () => {
  assert.deepEqual(
    demo.regions.map((r) => r.subnetCidr.text),
    ["127.200.0.0/16", "127.201.0.0/16", "127.202.0.0/16", "127.203.0.0/16", "127.204.0.0/16", "127.205.0.0/16"],
  );
  const base = "name: x\nzone: z.\nsites:\n  - { name: a, city: A, lat: 1, lon: 0, subnet: 127.200.0.0/16 }\n";
  const invalid = (text: string) => refused(() => parsePlanet(text, { file: "p.yaml" }), "RS_ERR_TOPOLOGY_INVALID");
  assert.match(
    invalid(`${base}clients:\n  - { name: r, cidr: 10.0.0.0/8, lat: 0, lon: 0 }\n`),
    /clients\[0\]\.subnet \(p\.yaml:6\): region r's block 127\.200\.0\.0\/16 overlaps the subnet of site a/,
  );
  assert.match(
    invalid(
      `${base}clients:\n  - { name: r, cidr: 10.0.0.0/8, lat: 0, lon: 0, subnet: 127.90.0.0/16 }\n  - { name: q, cidr: 10.0.0.0/8, lat: 0, lon: 0, subnet: 127.90.0.0/16 }\n`,
    ),
    /clients\[1\]\.subnet \(p\.yaml:7\).*overlaps the block of region r/,
  );
  assert.match(
    invalid(`${base}clients:\n  - { name: a, cidr: 10.0.0.0/8, lat: 0, lon: 0 }\n`),
    /clients\[0\]\.name.*site's name/,
  );
  assert.match(invalid(`${base}wan: { mode: tunnel }\n`), /wan\.mode \(p\.yaml:5\)/);
  assert.match(invalid(`${base}wan: { jitterMs: -1 }\n`), /wan\.jitterMs \(p\.yaml:5\)/);
  assert.match(invalid(`${base}wan: { bandwidthMbps: 0 }\n`), /wan\.bandwidthMbps \(p\.yaml:5\)/);
  assert.match(invalid(`${base}wan: { lossPct: 101 }\n`), /wan\.lossPct \(p\.yaml:5\)/);
  // The same clash is fine on real hosts: no region blocks exist there.
  const direct = parsePlanet(
    `${base}clients:\n  - { name: r, cidr: 10.0.0.0/8, lat: 0, lon: 0 }\nwan: { mode: direct }\n`,
  );
  assert.equal(direct.regions.length, 0);
});

test("topology dial - the links carry the ports the store and the DNS server really use", () => {
  // The port plan lives in topology so dialers and link processes agree; the parts that
  // listen keep their own constants, which must say the same.
  assert.equal(topologyConstants.storePeerPortOffset, storeConstants.storePeerPortOffset);
  assert.equal(topologyConstants.dnsAdminPortOffset, dnsConstants.adminPortOffset);
});
