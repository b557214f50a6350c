// The control API's table and validators: routes match with their parameters, a wrong
// method is told from a wrong path, and bad input names its field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError } from "../../core/index.ts";
import { matchRoute, parseCount, parseTier } from "./api.ts";

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
