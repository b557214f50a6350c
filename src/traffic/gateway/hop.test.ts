import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { ManualClock } from "../../core/index.ts";
import { hopStampSkewSMax } from "./constants.ts";
import { HopAuth } from "./hop.ts";

const secret = randomBytes(32);
const sites = ["a", "b", "c"];
const peerHosts = ["127.1.2.1", "127.2.2.1", "127.3.2.1"];

function pair(clock: ManualClock, secretB = secret) {
  const a = new HopAuth({ secret, site: "a", sites, peerHosts, clock });
  const b = new HopAuth({ secret: secretB, site: "b", sites, peerHosts, clock });
  return { a, b };
}

test("hop - a peer's stamp from a peer address is believed; anything else is not", () => {
  const clock = new ManualClock(1_700_000_000_000);
  const { a, b } = pair(clock);
  const stamp = a.stamp();
  assert.match(stamp, /^a; t=\d+; mac=[0-9a-f]{64}$/);
  assert.equal(b.verify("127.1.2.1", stamp), "a");
  assert.equal(b.verify("127.1.2.1", stamp), "a", "from the cache");
  assert.equal(b.verify("10.0.0.9", stamp), undefined, "not from a gateway address");
  assert.equal(b.verify("127.1.2.1", "a"), undefined, "a bare site name");
  assert.equal(
    b.verify(
      "127.1.2.1",
      stamp.replace(/.$/, (c) => (c === "0" ? "1" : "0")),
    ),
    undefined,
    "a bad MAC",
  );
  assert.equal(b.verify("127.1.2.1", stamp.replace("a;", "c;")), undefined, "another site's name on a's MAC");
  assert.equal(a.verify("127.2.2.1", stamp), undefined, "its own site's stamp");
  assert.equal(pair(clock, randomBytes(32)).b.verify("127.1.2.1", stamp), undefined, "another planet's secret");
  clock.advance((hopStampSkewSMax + 2) * 1000);
  assert.equal(b.verify("127.1.2.1", stamp), undefined, "a stale stamp (a replay)");
  assert.equal(b.verify("127.1.2.1", a.stamp()), "a", "a fresh one");
  assert.equal(
    new HopAuth({ secret: undefined, site: "b", sites, peerHosts, clock }).verify("127.1.2.1", a.stamp()),
    undefined,
  );
});
