// The client's directory of store nodes: the planet file's at first, then the store's
// membership record — a newer record replaces it, an older one is ignored, a joining node
// is not sent to before it votes, and a malformed answer is refused naming the field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet, siteByName } from "../../topology/index.ts";
import { partitionOf, replicasOf } from "../replication/partition.ts";
import { ClientMembers, parseMembershipView } from "./client-members.ts";

const planet = parsePlanet(`
name: dir
zone: dir.test.
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, subnet: 127.200.0.0/16, tiers: { store: 3 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, subnet: 127.201.0.0/16, tiers: { store: 3 } }
store: { partitions: 16, rf: 3 }
wan: { mode: direct }
`);
const member = (id: string, site: string, state: "active" | "joining" | "leaving" = "active") => {
  const n = planet.storeNodes.find((x) => x.id === id);
  const k = Number(id.replace(/.*store/, ""));
  return { id, site, host: n?.host ?? `127.${site === "nyc" ? 200 : 201}.1.${k}`, port: n?.port ?? 7400, state };
};

test("client members - a newer membership record replaces the planet file's nodes; an older one is ignored", () => {
  const m = new ClientMembers(planet, siteByName(planet, "nyc")!);
  assert.equal(m.epoch, -1);
  assert.deepEqual(m.homeIds(), ["nyc-store1", "nyc-store2", "nyc-store3"]);
  const replaced = {
    epoch: 3,
    members: [
      member("nyc-store1", "nyc"),
      member("nyc-store2", "nyc"),
      member("nyc-store5", "nyc"),
      ...["lon-store1", "lon-store2", "lon-store3"].map((id) => member(id, "lon")),
    ],
  };
  assert.deepEqual(m.apply(replaced), ["nyc-store3"], "the replaced node is forgotten");
  assert.equal(m.epoch, 3);
  assert.deepEqual(m.homeIds(), ["nyc-store1", "nyc-store2", "nyc-store5"]);
  assert.equal(m.get("nyc-store5")?.origin, "http://127.200.1.5:7400");
  assert.deepEqual(
    m.apply({ epoch: 2, members: [member("nyc-store1", "nyc")] }),
    [],
    "an older record changes nothing",
  );
  assert.deepEqual(m.homeIds(), ["nyc-store1", "nyc-store2", "nyc-store5"]);
});

test("client members - the key's replicas of this site come first, as the nodes place them; a joining node is not asked, a down one goes last", () => {
  const m = new ClientMembers(planet, siteByName(planet, "nyc")!);
  m.apply({
    epoch: 1,
    members: [
      ...["nyc-store1", "nyc-store2", "nyc-store3"].map((id) => member(id, "nyc")),
      member("nyc-store4", "nyc", "joining"),
      ...["lon-store1", "lon-store2", "lon-store3"].map((id) => member(id, "lon")),
    ],
  });
  const key = "cart:alice";
  const replicas = replicasOf(partitionOf(key, 16), ["nyc-store1", "nyc-store2", "nyc-store3"], 3);
  const ids = m.candidates(key, () => false, 8).map((n) => n.id);
  assert.deepEqual(ids.slice(0, 3), replicas);
  assert.ok(!ids.includes("nyc-store4"), "a joining node votes for nothing yet");
  assert.deepEqual(
    ids.slice(3),
    replicasOf(partitionOf(key, 16), ["lon-store1", "lon-store2", "lon-store3"], 3),
    "then the other site's replicas",
  );
  const down = replicas[0];
  assert.equal(m.candidates(key, (id) => id === down, 8)[2].id, down, "a node that just failed goes last in its site");
});

test("client members - a malformed membership answer is refused naming the field", () => {
  assert.throws(() => parseMembershipView({ epoch: 1, members: [] }), /members/);
  assert.throws(() => parseMembershipView({ epoch: -1, members: [member("nyc-store1", "nyc")] }), /epoch/);
  assert.throws(
    () => parseMembershipView({ epoch: 1, members: [{ ...member("nyc-store1", "nyc"), port: 0 }] }),
    /members\.0\.port/,
  );
  assert.throws(() => parseMembershipView("<html>"), /membership answer/);
});
