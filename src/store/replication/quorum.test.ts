import assert from "node:assert/strict";
import { test } from "node:test";
import { levelMet, levelReachable } from "./quorum.ts";

const replicas = new Map([
  ["nyc", ["n1", "n2", "n3"]],
  ["lon", ["l1", "l2", "l3"]],
  ["sin", ["s1", "s2", "s3"]],
]);
const met = (level: Parameters<typeof levelMet>[0], ...holders: string[]) =>
  levelMet(level, replicas, "nyc", new Set(holders));

test("quorum - local levels count only the local site's replicas", () => {
  assert.equal(met("local-one", "n2"), true);
  assert.equal(met("local-one", "l1", "l2", "l3"), false);
  assert.equal(met("local-quorum", "n1"), false);
  assert.equal(met("local-quorum", "n1", "n3"), true);
});

test("quorum - global needs a majority here and a majority in another site", () => {
  assert.equal(met("global", "n1", "n2"), false);
  assert.equal(met("global", "n1", "n2", "l1"), false);
  assert.equal(
    met("global", "n1", "n2", "l1", "s1"),
    false,
    "one replica in each of two other sites is not a majority",
  );
  assert.equal(met("global", "n1", "n2", "s1", "s3"), true);
  assert.equal(met("global", "n1", "l1", "l2", "s1", "s2"), false, "the local majority is required");
});

test("quorum - all needs every replica everywhere", () => {
  assert.equal(met("all", "n1", "n2", "n3", "l1", "l2", "l3", "s1", "s2"), false);
  assert.equal(met("all", "n1", "n2", "n3", "l1", "l2", "l3", "s1", "s2", "s3"), true);
});

test("quorum - a single-site planet's global level is its local majority", () => {
  const one = new Map([["nyc", ["n1", "n2", "n3"]]]);
  assert.equal(levelMet("global", one, "nyc", new Set(["n1", "n2"])), true);
});

test("quorum - reachability says when a level cannot be met with the nodes that are up", () => {
  const down = new Set(["l1", "l2", "s2", "s3"]);
  const isUp = (n: string) => !down.has(n);
  assert.equal(levelReachable("local-quorum", replicas, "nyc", isUp), true);
  assert.equal(levelReachable("global", replicas, "nyc", isUp), false);
  assert.equal(levelReachable("all", replicas, "nyc", isUp), false);
});

test("quorum - a hint counts toward the local part of a level only, never toward all", () => {
  const hinted = new Set(["n2"]);
  assert.equal(levelMet("local-quorum", replicas, "nyc", new Set(["n1"]), hinted), true);
  assert.equal(levelMet("global", replicas, "nyc", new Set(["n1", "l1", "l2"]), hinted), true);
  assert.equal(levelMet("global", replicas, "nyc", new Set(["n1", "l1"]), new Set(["n2", "l2"])), false);
  const everyOther = ["n1", "n3", "l1", "l2", "l3", "s1", "s2", "s3"];
  assert.equal(levelMet("all", replicas, "nyc", new Set(everyOther), hinted), false);
});

test("quorum - with fallbacks up, local-quorum stays reachable with two local replicas down, all does not", () => {
  const down = new Set(["n2", "n3"]);
  const isUp = (n: string) => !down.has(n);
  assert.equal(levelReachable("local-quorum", replicas, "nyc", isUp), false);
  assert.equal(levelReachable("local-quorum", replicas, "nyc", isUp, 1), true);
  assert.equal(levelReachable("global", replicas, "nyc", isUp, 1), true);
  assert.equal(levelReachable("all", replicas, "nyc", isUp, 2), false);
});
