// The control API's table and validators: routes match with their parameters, a wrong
// method is told from a wrong path, and bad input names its field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError } from "../../core/index.ts";
import { matchRoute, parseCount, parseDeploy, parseSunRequest, parseTier, sunAnchorSkewMsMax } from "./api.ts";

test("control api - routes match with parameters; method and path errors differ", () => {
  assert.deepEqual(matchRoute("GET", "/v1/status"), { ok: true, route: "status", params: {} });
  assert.deepEqual(matchRoute("HEAD", "/v1/status"), { ok: true, route: "status", params: {} });
  assert.deepEqual(matchRoute("PUT", "/v1/tiers/app"), { ok: true, route: "scale", params: { tier: "app" } });
  assert.deepEqual(matchRoute("GET", "/v1/tiers/app"), { ok: false, code: "METHOD" });
  assert.deepEqual(matchRoute("PUT", "/v1/tiers/"), { ok: false, code: "NOT_FOUND" });
  assert.deepEqual(matchRoute("GET", "/v2/status"), { ok: false, code: "NOT_FOUND" });
  assert.deepEqual(matchRoute("POST", "/v1/stop"), { ok: true, route: "stop", params: {} });
});

test("control api - counts and tiers are checked, naming the field", () => {
  assert.equal(parseCount(0), 0);
  assert.equal(parseCount("12"), 12);
  assert.equal(parseCount(3, "N", 3), 3);
  for (const bad of [-1, 1.5, "1.5", "", "x", null, undefined, "1e3", Number.NaN, "-0"]) {
    assert.throws(
      () => parseCount(bad, "N"),
      (e) => isRedshirtError(e, "RS_ERR_CATTLE_CONTROL_BAD_COUNT") && /^.*N: must be/.test(e.message),
      String(bad),
    );
  }
  assert.throws(() => parseCount(4, "N", 3), /N: 4 is more than this tier's maximum of 3/);
  assert.equal(parseTier("store"), "store");
  assert.throws(
    () => parseTier("db", "TIER"),
    (e) => isRedshirtError(e, "RS_ERR_CATTLE_CONTROL_UNKNOWN_TIER") && /TIER: "db"/.test(e.message),
  );
});

test("control api - a deploy body is checked, naming the field", () => {
  assert.deepEqual(parseDeploy({ version: "2" }), { version: "2", entry: undefined, maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(parseDeploy({ version: "v2.1", entry: "/srv/app.ts", maxSurge: 0, maxUnavailable: 2 }), {
    version: "v2.1",
    entry: "/srv/app.ts",
    maxSurge: 0,
    maxUnavailable: 2,
  });
  const bad: [unknown, RegExp][] = [
    [undefined, /JSON object/],
    [[], /JSON object/],
    [{}, /version: 1-64/],
    [{ version: "two words" }, /version: 1-64/],
    [{ version: "2", entry: "relative.ts" }, /entry: an absolute path/],
    [{ version: "2", maxSurge: -1 }, /maxSurge: must be/],
    [{ version: "2", maxUnavailable: "x" }, /maxUnavailable: must be/],
    [{ version: "2", maxSurge: 0, maxUnavailable: 0 }, /not both 0/],
  ];
  for (const [body, message] of bad) assert.throws(() => parseDeploy(body), message, JSON.stringify(body));
});

test("control api - a sun clock body is checked, naming the field", () => {
  const now = 1_700_000_000_000;
  assert.deepEqual(matchRoute("PUT", "/v1/sun"), { ok: true, route: "sun", params: {} });
  assert.deepEqual(parseSunRequest({ clockSpeed: 60 }, now), { clockSpeed: 60, anchor: undefined });
  assert.deepEqual(parseSunRequest({ clockSpeed: 0.5, anchorRealMs: now - 1000, anchorSimMs: 42 }, now), {
    clockSpeed: 0.5,
    anchor: { realMs: now - 1000, simMs: 42 },
  });
  const bad: [unknown, RegExp][] = [
    [undefined, /JSON object/],
    [{}, /: clockSpeed: a number above 0 and at most 10000 \(got undefined\)/],
    [{ clockSpeed: 0 }, /: clockSpeed:/],
    [{ clockSpeed: -1 }, /: clockSpeed:/],
    [{ clockSpeed: 10_001 }, /: clockSpeed:/],
    [{ clockSpeed: "60" }, /: clockSpeed:/],
    [{ clockSpeed: Number.POSITIVE_INFINITY }, /: clockSpeed:/],
    [{ clockSpeed: Number.NaN }, /: clockSpeed:/],
    [{ clockSpeed: 60, anchorRealMs: now + sunAnchorSkewMsMax + 1, anchorSimMs: 0 }, /: anchorRealMs:/],
    [{ clockSpeed: 60, anchorRealMs: now / 1000, anchorSimMs: 0 }, /: anchorRealMs:/],
    [{ clockSpeed: 60, anchorSimMs: 0 }, /: anchorRealMs:/],
    [{ clockSpeed: 60, anchorRealMs: now }, /: anchorSimMs:/],
    [{ clockSpeed: 60, anchorRealMs: now, anchorSimMs: 1e17 }, /: anchorSimMs:/],
  ];
  for (const [body, message] of bad) {
    assert.throws(
      () => parseSunRequest(body, now),
      (e) => isRedshirtError(e, "RS_ERR_CATTLE_CONTROL_BAD_REQUEST") && message.test(e.message),
      JSON.stringify(body),
    );
  }
});
