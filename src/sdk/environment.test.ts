import assert from "node:assert/strict";
import { test } from "node:test";
import { isRedshirtError } from "../core/index.ts";
import { appEnvironment } from "./environment.ts";

test("sdk environment - an app finds its planet and site from REDSHIRT_PLANET and REDSHIRT_SITE, and names the one missing", () => {
  const { planet, site } = appEnvironment({ REDSHIRT_PLANET: "examples/planet.yaml", REDSHIRT_SITE: "lon" });
  assert.equal(site, "lon");
  assert.equal(planet.name, "demo");
  assert.throws(
    () => appEnvironment({ REDSHIRT_PLANET: "examples/planet.yaml" }),
    (err: Error) => isRedshirtError(err, "RS_ERR_SDK_CONFIG") && /REDSHIRT_SITE: not set/.test(err.message),
  );
});
