// startInstance refuses an incomplete or invalid identity with RS_ERR_SDK_CONFIG naming the
// variable, before it listens or writes anything. (Its registration and drain run against a
// real store in test/gateway-discovery.test.ts.)
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";
import { parsePlanet } from "../topology/index.ts";
import { startInstance } from "./instance.ts";

const planet = parsePlanet(
  "name: sdk\nzone: sdk.test.\nsites:\n  - { name: s, city: S, lat: 0, lon: 0, subnet: 127.195.0.0/16, tiers: { store: 1, app: 0 } }\nstore: { rf: 1 }\n",
);

async function refusal(env: Record<string, string>, options: { fromEnv?: boolean } = {}): Promise<string> {
  const server = createServer();
  try {
    await startInstance({ server, planet: options.fromEnv ? undefined : planet, env, handleSignals: false });
  } catch (err) {
    const e = err as { code?: string; message: string };
    assert.equal(e.code, "RS_ERR_SDK_CONFIG", e.message);
    assert.equal(server.listening, false, "refused before listening");
    return e.message;
  }
  server.close();
  assert.fail("startInstance accepted a bad identity");
}

test("sdk - a missing or bad identity is RS_ERR_SDK_CONFIG naming the variable", async () => {
  assert.match(await refusal({ PORT: "9000" }), /REDSHIRT_SITE: not set/);
  assert.match(
    await refusal({ REDSHIRT_SITE: "zz", PORT: "9000" }),
    /REDSHIRT_SITE: no site "zz" in planet sdk \(sites: s\)/,
  );
  assert.match(await refusal({ REDSHIRT_SITE: "s" }), /PORT: not set/);
  assert.match(await refusal({ REDSHIRT_SITE: "s", PORT: "90000" }), /PORT: "90000" is not a port/);
  assert.match(
    await refusal({ REDSHIRT_SITE: "s", PORT: "9000", REDSHIRT_INSTANCE_ID: "a b" }),
    /REDSHIRT_INSTANCE_ID: "a b"/,
  );
  assert.match(
    await refusal({ REDSHIRT_SITE: "s", PORT: "9000", REDSHIRT_PLANET: "/nonexistent/planet.yaml" }, { fromEnv: true }),
    /REDSHIRT_PLANET: cannot load \/nonexistent\/planet.yaml/,
  );
});
