// A hot field rewritten by blind writes (a site's instance registry) stays small at every
// replica while a dead node holds stability; the same writes under plain op ids keep every
// version since. Simulated network, clock and disks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePlanet } from "../../topology/index.ts";
import { blindOpIdPrefix } from "../constants.ts";
import { SimCluster } from "../testkit/sim-cluster.ts";
import { simPlanetYaml } from "../testkit/sim-workload.ts";

const planet = parsePlanet(simPlanetYaml);

test("a field rewritten 150 times by blind writes while a dead node holds stability stays one write at every replica; plain op ids keep every write", async (t) => {
  const c = new SimCluster({ planet, seed: 83 });
  t.after(() => c.stopAll());
  await c.startAll();
  await c.advance(5_000);
  assert.ok(c.engine("nyc-store1")!.stable > 0, "stability was reached before the death");
  c.crash("sin-store3"); // stays dead: stability stands still from here
  const live = [...c.nodes.keys()].filter((n) => n !== "sin-store3");
  const lease = (beat: number) => ({ id: "nyc-app-1", host: "127.10.3.1", port: 8080, state: "ready", beat });
  for (let beat = 1; beat <= 150; beat++) {
    for (const [key, prefix] of [
      ["_rs/registry/nyc", blindOpIdPrefix],
      ["plain-registry", ""],
    ] as const) {
      const r = await c.settle(
        c.mutate("nyc-store1", {
          key,
          mutation: { kind: "mset", fields: { "nyc-app-1": lease(beat) } },
          opId: `${prefix}lease.nyc-app-1.${beat}`,
          consistency: "local-one",
        }),
      );
      assert.ok(r.ok, `beat ${beat} of ${key} acknowledged`);
    }
    await c.advance(100);
  }
  await c.advance(3_000);
  const bytes = (node: string, key: string) => c.nodes.get(node)!.storage.getKey(key)?.state.length ?? 0;
  for (const n of live) {
    const blind = bytes(n, "_rs/registry/nyc");
    const plain = bytes(n, "plain-registry");
    assert.ok(blind > 0 && blind < 1_000, `${n}: the blind-written registry is ${blind} bytes`);
    assert.ok(plain > 50 * blind, `${n}: the plain one keeps every write (${plain} bytes)`);
    const r = await c.settle(c.read(n, { key: "_rs/registry/nyc", consistency: "local-one" }));
    assert.ok(r.ok && r.value.value.exists);
    assert.equal(
      (r.value.value.value as Record<string, { beat: number }>)["nyc-app-1"].beat,
      150,
      `${n} reads the latest beat`,
    );
  }
  t.diagnostic(
    `blind ${bytes("lon-store1", "_rs/registry/nyc")} B, plain ${bytes("lon-store1", "plain-registry")} B at lon-store1`,
  );
  assert.equal(c.internalErrors(), 0, "no internal errors");
});
