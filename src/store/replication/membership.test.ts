import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import {
  changeMembership,
  decodeMembership,
  encodeMembership,
  finishTransition,
  initialMembership,
  inTransition,
  isNewer,
  placeMembers,
} from "./membership.ts";
import { majority } from "./quorum.ts";

const planet = parsePlanet(`name: t
zone: t.example.
sites:
  - { name: nyc, city: nyc, lat: 40.7, lon: -74, subnet: 127.200.0.0/16, tiers: { store: 3, app: 0 } }
  - { name: lon, city: lon, lat: 51.5, lon: -0.1, subnet: 127.201.0.0/16, tiers: { store: 3, app: 0 } }
store: { partitions: 64, rf: 3 }
wan: { mode: direct }
`);

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return "none";
};

test("membership - the planet file is epoch 0 and placement matches the frozen rendezvous placement", () => {
  const m = initialMembership(planet);
  assert.equal(m.epoch, 0);
  assert.equal(inTransition(m), false);
  const p = placeMembers(m, 64, 3, "nyc-store1");
  for (let x = 0; x < 64; x++) {
    assert.deepEqual(p.replicas[x].get("nyc")?.sort(), ["nyc-store1", "nyc-store2", "nyc-store3"]);
    assert.equal(p.targets[x].length, 6);
  }
  assert.equal(p.filling.length, 0);
  assert.equal(p.fillers.size, 0);
});

test("membership - a join targets the new node without letting it vote until the change finishes", () => {
  const joined = changeMembership(planet, initialMembership(planet), { op: "join", node: "nyc-store4" });
  assert.equal(joined.epoch, 1);
  assert.equal(joined.members.find((x) => x.id === "nyc-store4")?.host, "127.200.1.4");
  const p = placeMembers(joined, 64, 3, "nyc-store4");
  assert.ok(p.filling.length > 20 && p.filling.length < 64, `fills ${p.filling.length} of 64 partitions`);
  for (let x = 0; x < 64; x++) {
    assert.ok(!p.replicas[x].get("nyc")?.includes("nyc-store4"), "a joining node never votes");
    assert.equal(p.targets[x].includes("nyc-store4"), p.filling.includes(x), "writes reach what it fills");
  }
  assert.deepEqual([...p.fillers], ["nyc-store4"]);
  const done = finishTransition(joined);
  assert.equal(done.epoch, 2);
  assert.equal(inTransition(done), false);
  const after = placeMembers(done, 64, 3, "nyc-store4");
  assert.deepEqual(after.mine, p.filling, "it votes exactly for what it filled");
});

test("membership - a leave keeps the leaving node voting, and the node taking its share fills it", () => {
  const four = finishTransition(
    changeMembership(planet, initialMembership(planet), { op: "join", node: "nyc-store4" }),
  );
  const leaving = changeMembership(planet, four, { op: "leave", node: "nyc-store1" });
  const p = placeMembers(leaving, 64, 3, "nyc-store2");
  const was = placeMembers(four, 64, 3, "nyc-store2");
  for (let x = 0; x < 64; x++) assert.deepEqual(p.replicas[x], was.replicas[x], "voters stay until it is done");
  assert.ok(p.fillers.size > 0);
  assert.ok(!p.fillers.has("nyc-store1"));
  const gone = placeMembers(finishTransition(leaving), 64, 3, "nyc-store2");
  for (let x = 0; x < 64; x++) assert.equal(gone.replicas[x].get("nyc")?.length, 3);
});

test("membership - a replace puts the new node where the old one was, and bad changes say which field is wrong", () => {
  const m0 = initialMembership(planet);
  const r = changeMembership(planet, m0, { op: "replace", old: "lon-store2", node: "lon-store7" });
  const p = placeMembers(r, 64, 3, "lon-store7");
  const done = placeMembers(finishTransition(r), 64, 3, "lon-store7");
  assert.deepEqual(done.mine, p.filling);
  for (let x = 0; x < 64; x++) {
    const voters = p.replicas[x].get("lon") ?? [];
    assert.ok(voters.length - majority(voters.length) + 1 <= 2, "two live voters are enough to fill from");
  }
  assert.equal(
    code(() => changeMembership(planet, r, { op: "join", node: "lon-store8" })),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  assert.equal(
    code(() => changeMembership(planet, m0, { op: "join", node: "nyc-store1" })),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  assert.equal(
    code(() => changeMembership(planet, m0, { op: "join", node: "mars-store1" })),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  assert.equal(
    code(() => changeMembership(planet, m0, { op: "leave", node: "nyc-store9" })),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  assert.equal(
    code(() => changeMembership(planet, m0, { op: "replace", old: "nyc-store1", node: "lon-store9" })),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  // A join given up: leaving the joining node ends the change at once.
  const back = changeMembership(planet, r, { op: "leave", node: "lon-store7" });
  assert.equal(
    back.members.find((x) => x.id === "lon-store7"),
    undefined,
  );
  assert.equal(back.members.find((x) => x.id === "lon-store2")?.state, "active", "the old node stays");
  assert.equal(inTransition(back), false);
});

test("membership - records round-trip, and of two records the newer one wins the same way everywhere", () => {
  const a = changeMembership(planet, initialMembership(planet), { op: "join", node: "nyc-store4" });
  const b = changeMembership(planet, initialMembership(planet), { op: "join", node: "lon-store4" });
  assert.deepEqual(decodeMembership(encodeMembership(a)), a);
  assert.equal(isNewer(a, b), !isNewer(b, a), "a tie of epochs is broken one way");
  assert.ok(isNewer(finishTransition(b), a));
  assert.equal(isNewer(a, a), false);
  assert.equal(
    code(() => decodeMembership('{"epoch":-1,"members":[]}')),
    "RS_ERR_STORE_MEMBERSHIP",
  );
  assert.equal(
    code(() => decodeMembership("nope")),
    "RS_ERR_STORE_MEMBERSHIP",
  );
});
