import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../../core/index.ts";
import { Balancer, Target } from "./balancer.ts";
import { Pool } from "./pool.ts";
import { backendsView, healthView } from "./status.ts";
import type { UpstreamConn } from "./upstream.ts";

function site(n: number) {
  const clock = new ManualClock();
  const local = new Balancer<UpstreamConn>({ clock, random: seededRandom(1), requestsMax: 2 });
  for (let i = 0; i < n; i++) {
    const t = new Target<UpstreamConn>(
      { id: `s-app${i + 1}`, site: "s", host: `127.1.4.${i + 1}`, port: 9000, kind: "instance" },
      new Pool(),
    );
    local.add(t);
    local.recordCheck(t, true);
  }
  return { site: "s", name: "s-gateway1", clock, shuttingDown: false, local, remote: [] };
}

test("status - healthz says 'can serve' for 64 saturated instances, in a body the size of one instance's", () => {
  const one = site(1);
  const many = site(64);
  for (const t of many.local.targets) t.outstanding = 2;
  const h = healthView(many, null);
  assert.equal(h.ok, true, "saturated instances are capacity: the site stays in DNS");
  assert.equal(h.liveInstances, 64);
  assert.equal(h.healthyInstances, 0);
  const small = JSON.stringify(healthView(one, null)).length;
  assert.ok(JSON.stringify(h).length <= small + 4, "constant size whatever the instance count");
  assert.ok(JSON.stringify(h).length < 512);
  assert.deepEqual(
    [...new Set(backendsView(many, {}).backends.map((b) => b.why))],
    ["saturated"],
    "the per-instance view lives in /_redshirt/backends",
  );
});
