import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { ServiceTable } from "./services.ts";

test("services - a Host under the zone names its service; any other Host is the first service", () => {
  const planet = parsePlanet(
    "name: s\nzone: shop.test.\nservices: [www, api]\nsites:\n  - { name: a, city: A, lat: 0, lon: 0 }\n" +
      "gateway:\n  services:\n    api: { idempotencyKeyRetries: true, appDedupsThroughStore: true }\n",
  );
  const t = new ServiceTable(planet);
  const none = { idempotencyKeyRetries: false, appDedupsThroughStore: false };
  const api = { idempotencyKeyRetries: true, appDedupsThroughStore: true };
  assert.deepEqual(t.of("api.shop.test"), api);
  assert.deepEqual(t.of("API.Shop.Test:8080"), api);
  assert.deepEqual(t.of("api.shop.test."), api);
  assert.deepEqual(t.of("www.shop.test"), none);
  assert.deepEqual(t.of("127.10.2.1:8080"), none, "an address: the first service (www)");
  assert.deepEqual(t.of("api.evil.test"), none);
  assert.deepEqual(t.of(undefined), none);
  for (let i = 0; i < 1_000; i++) t.of(`h${i}.example`);
  assert.deepEqual(t.of("api.shop.test"), api, "the host table stays bounded and correct");
});
