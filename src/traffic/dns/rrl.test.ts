// Response-rate limiting and the response cache, driven directly with a hand-moved clock:
// the bucket's rate, burst and refill, the slip parity, the bound on tracked prefixes, the
// slipped form of a response; and case-folded cache keys that fold the name only.
import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import { buildLocator } from "./locate.ts";
import { type HandleContext, handleQuery } from "./message.ts";
import { Ranker } from "./ranking.ts";
import { ResponseCache } from "./response-cache.ts";
import { ResponseRateLimiter, rrlPrefixOf, slipOf } from "./rrl.ts";
import { buildQuery, testPlanet } from "./testing.ts";
import { buildZone } from "./zone.ts";

test("rrl - a prefix gets its rate with a one-second burst, then every slip-th limited answer slips", () => {
  const rrl = new ResponseRateLimiter({ responsesPerS: 10, slip: 3 });
  const verdicts = Array.from({ length: 16 }, () => rrl.check("192.0.2.7", 1_000));
  assert.deepEqual(verdicts.slice(0, 10), Array(10).fill("send"), "a burst of one second's worth");
  assert.deepEqual(verdicts.slice(10), ["drop", "drop", "slip", "drop", "drop", "slip"]);
  // The same /24 shares the bucket; another /24 has its own.
  assert.equal(rrl.check("192.0.2.200", 1_000), "drop");
  assert.equal(rrl.check("192.0.3.1", 1_000), "send");
  // 100 ms refills one answer at 10/s; a second refills the whole burst, never more.
  assert.equal(rrl.check("192.0.2.7", 1_100), "send");
  assert.notEqual(rrl.check("192.0.2.7", 1_100), "send");
  const later = Array.from({ length: 12 }, () => rrl.check("192.0.2.7", 60_000));
  assert.equal(later.filter((v) => v === "send").length, 10);
  assert.equal(rrlPrefixOf("::ffff:198.51.100.9"), "198.51.100");
});

test("rrl - off at 0 per second; slip 0 drops every limited answer; slip 1 slips them all", () => {
  const off = new ResponseRateLimiter({ responsesPerS: 0, slip: 2 });
  assert.equal(off.enabled, false);
  assert.ok(Array.from({ length: 1000 }, () => off.check("10.0.0.1", 0)).every((v) => v === "send"));
  const never = new ResponseRateLimiter({ responsesPerS: 1, slip: 0 });
  never.check("10.0.0.1", 0);
  assert.ok(Array.from({ length: 20 }, () => never.check("10.0.0.1", 0)).every((v) => v === "drop"));
  const always = new ResponseRateLimiter({ responsesPerS: 1, slip: 1 });
  always.check("10.0.0.1", 0);
  assert.ok(Array.from({ length: 20 }, () => always.check("10.0.0.1", 0)).every((v) => v === "slip"));
});

test("rrl - the table of prefixes stays bounded under a flood from forged sources", () => {
  const rrl = new ResponseRateLimiter({ responsesPerS: 5, slip: 2 });
  for (let i = 0; i < 200_000; i++) rrl.check(`${10 + ((i >> 16) & 255)}.${(i >> 8) & 255}.${i & 255}.1`, i / 1000);
  assert.ok(rrl.size <= 65_536, `${rrl.size} prefixes`);
});

const planet = testPlanet(120);
const state = { zone: buildZone(planet), ranker: new Ranker(planet, buildLocator(planet)) };
const udp: HandleContext = { transport: "udp", sourceAddress: "127.0.0.1" };

test("rrl - a slipped answer is the response's header with TC=1, its question and its OPT, nothing else", () => {
  const query = buildQuery({ name: "ShOp.gslb.test", id: 77, edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } });
  const full = handleQuery(query, udp, state).response!;
  const slipped = dnsPacket.decode(slipOf(full)!);
  assert.equal(slipped.id, 77);
  assert.ok(slipped.flag_tc && slipped.flag_aa && slipped.flag_qr);
  assert.equal(slipped.questions?.[0].name, "ShOp.gslb.test");
  assert.equal((slipped.answers ?? []).length, 0);
  assert.deepEqual(
    (slipped.additionals ?? []).map((a) => a.type),
    ["OPT"],
  );
  const plain = dnsPacket.decode(slipOf(handleQuery(buildQuery({ name: "www.gslb.test" }), udp, state).response!)!);
  assert.equal((plain.additionals ?? []).length, 0);
  assert.equal(slipOf(Buffer.alloc(5)), undefined);
});

test("response cache - 0x20 case patterns share one entry; only the name is folded, never the ECS bytes", () => {
  const cache = new ResponseCache();
  const ask = (name: string, ecsIp: string) => {
    const q = buildQuery({ name, id: 5, edns: { ecs: { ip: ecsIp, prefix: 24 } } });
    const hit = cache.get(q, udp, 1);
    const r = hit ?? handleQuery(q, udp, state);
    if (!hit) cache.put(q, udp, 1, r);
    return { hit: hit !== undefined, packet: dnsPacket.decode(r.response!) };
  };
  assert.equal(ask("www.gslb.test", "10.3.65.0").hit, false);
  const mixed = ask("WwW.gSlB.TEST", "10.3.65.0");
  assert.equal(mixed.hit, true);
  assert.equal(mixed.packet.questions?.[0].name, "WwW.gSlB.TEST");
  assert.ok((mixed.packet.answers ?? []).every((a) => a.name === "WwW.gSlB.TEST"));
  // 65 is "A" and 97 is "a": an ECS address differing only so is another client, another entry.
  assert.equal(ask("www.gslb.test", "10.3.97.0").hit, false);
  // A new generation (health or weights changed) empties it.
  const q = buildQuery({ name: "www.gslb.test", id: 6, edns: { ecs: { ip: "10.3.65.0", prefix: 24 } } });
  assert.equal(cache.get(q, udp, 2), undefined);
});
