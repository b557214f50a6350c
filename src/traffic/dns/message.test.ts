import assert from "node:assert/strict";
import { test } from "node:test";
import dnsPacket from "dns-packet";
import { type Planet, parsePlanet } from "../../topology/index.ts";
import { buildLocator } from "./locate.ts";
import { type AnswerState, type HandleContext, handleQuery } from "./message.ts";
import { Ranker } from "./ranking.ts";
import { buildQuery, ecsOf, type QuerySpec, testPlanet, testPlanetYaml } from "./testing.ts";
import { buildZone } from "./zone.ts";

function stateOf(planet: Planet): AnswerState {
  return { zone: buildZone(planet), ranker: new Ranker(planet, buildLocator(planet)) };
}
const state = stateOf(testPlanet(120));
const udp: HandleContext = { transport: "udp", sourceAddress: "127.0.0.1" };
const tcp: HandleContext = { transport: "tcp", sourceAddress: "127.0.0.1" };

const dataOf = (a: dnsPacket.Answer): unknown => (a as { data?: unknown }).data;
type Decoded = dnsPacket.DecodedPacket & { rcode: string; opcode: string };

function ask(spec: QuerySpec | Buffer, ctx = udp, s = state) {
  const buf = Buffer.isBuffer(spec) ? spec : buildQuery(spec);
  const r = handleQuery(buf, ctx, s);
  // dns-packet decodes rcode and opcode as names; its types do not declare them.
  const packet = r.response ? (dnsPacket.decode(r.response) as Decoded) : undefined;
  return { ...r, packet };
}
const rcodeOf = (spec: QuerySpec | Buffer, ctx = udp) => ask(spec, ctx).packet?.rcode;

test("message - a service name is answered with the nearest healthy site's gateways only, authoritatively", () => {
  const r = ask({ name: "www.gslb.test", id: 777, edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } });
  const p = r.packet!;
  assert.equal(p.id, 777);
  assert.equal(p.rcode, "NOERROR");
  assert.ok(p.flag_qr && p.flag_aa && p.flag_rd && !p.flag_ra && !p.flag_tc);
  // A resolver may re-sort or rotate the RRset: only the nearest site's addresses are in it.
  assert.deepEqual(p.answers!.map(dataOf), ["127.121.2.1", "127.121.2.2"]);
  // A service with fallbackSites: 2 lists every site, nearest first.
  const all = ask({ name: "shop.gslb.test", edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } }).packet!;
  assert.deepEqual(all.answers!.map(dataOf), [
    "127.121.2.1",
    "127.121.2.2",
    "127.120.2.1",
    "127.120.2.2",
    "127.122.2.1",
    "127.122.2.2",
  ]);
  assert.ok(p.answers!.every((a) => a.type === "A" && a.ttl === 5 && a.name === "www.gslb.test"));
  assert.equal(r.firstSite, "lon");
  // The answer depends on the client even with one site listed: the ECS scope says for whom.
  assert.equal(ecsOf(p)!.scopePrefixLength, 22);
  // The source address locates the client when there is no ECS.
  const fromSin = ask({ name: "shop.gslb.test" }, { transport: "udp", sourceAddress: "127.122.0.9" }).packet!;
  assert.equal(dataOf(fromSin.answers![0]), "127.122.2.1");
  // RD is copied, not invented; the name keeps the case it was asked with (0x20).
  const mixed = ask({ name: "WwW.GSLB.test", rd: false }).packet!;
  assert.equal(mixed.flag_rd, false);
  assert.equal(mixed.questions![0].name, "WwW.GSLB.test");
  assert.equal(mixed.answers![0].name, "WwW.GSLB.test");
});

test("message - NXDOMAIN and NODATA carry the SOA; names outside the zone are REFUSED without AA", () => {
  const nx = ask({ name: "nope.gslb.test" }).packet!;
  assert.equal(nx.rcode, "NXDOMAIN");
  assert.ok(nx.flag_aa);
  assert.equal(nx.authorities![0].type, "SOA");
  assert.equal(nx.authorities![0].name, "gslb.test");
  assert.equal(ask({ name: "a.www.gslb.test" }).packet!.rcode, "NXDOMAIN");
  for (const type of ["AAAA", "MX", "TXT", "CNAME"] as const) {
    const nodata = ask({ name: "www.gslb.test", type }).packet!;
    assert.equal(nodata.rcode, "NOERROR", type);
    assert.equal(nodata.answers!.length, 0);
    assert.equal(nodata.authorities![0].type, "SOA");
    assert.ok(nodata.flag_aa);
  }
  const soa = ask({ name: "www.gslb.test", type: "AAAA" }).packet!.authorities![0] as dnsPacket.SoaAnswer;
  assert.equal(soa.ttl, 5);
  assert.equal(soa.data.minimum, 5);
  for (const name of ["example.com", "test", "gslb.test.evil.com", "xgslb.test"]) {
    const refused = ask({ name }).packet!;
    assert.equal(refused.rcode, "REFUSED", name);
    assert.equal(refused.flag_aa, false);
    assert.equal(refused.questions![0].name, name);
  }
});

test("message - the apex has SOA and NS with glue; name server names have A records", () => {
  const soa = ask({ name: "gslb.test", type: "SOA" }).packet!;
  assert.equal(soa.answers![0].type, "SOA");
  const ns = ask({ name: "gslb.test", type: "NS" }).packet!;
  assert.deepEqual(ns.answers!.map(dataOf), ["ns1.gslb.test", "ns2.gslb.test", "ns3.gslb.test"]);
  assert.deepEqual(
    ns.additionals!.map((a) => [a.name, dataOf(a)]),
    [
      ["ns1.gslb.test", "127.120.3.1"],
      ["ns2.gslb.test", "127.121.3.1"],
      ["ns3.gslb.test", "127.122.3.1"],
    ],
  );
  assert.equal(dataOf(ask({ name: "ns2.gslb.test" }).packet!.answers![0]), "127.121.3.1");
  assert.equal(ask({ name: "gslb.test", type: "A" }).packet!.answers!.length, 0);
  // RFC 8482: ANY gets one small HINFO, over UDP and TCP, at every name we have.
  for (const name of ["gslb.test", "www.gslb.test", "ns1.gslb.test"]) {
    for (const ctx of [udp, tcp]) {
      const any = ask({ name, type: "ANY" as dnsPacket.RecordType }, ctx).packet!;
      assert.equal(any.rcode, "NOERROR");
      assert.deepEqual(
        any.answers!.map((a) => [a.type, a.name, dataOf(a)]),
        [["HINFO", name, { cpu: "RFC8482", os: "" }]],
      );
    }
  }
  assert.equal(ask({ name: "nope.gslb.test", type: "ANY" as dnsPacket.RecordType }).packet!.rcode, "NXDOMAIN");
  // The serial is the same on every server built from the same planet.
  const a = buildZone(testPlanet(120)).soa.serial;
  assert.equal(a, buildZone(testPlanet(120)).soa.serial);
});

test("message - EDNS0: our payload size is advertised, DO copied, an unknown version gets BADVERS", () => {
  const p = ask({ name: "www.gslb.test", edns: { udpPayloadSize: 4096, do: true } }).packet!;
  const opt = p.additionals!.find((a) => a.type === "OPT") as dnsPacket.OptAnswer;
  assert.equal(opt.udpPayloadSize, 1232);
  assert.equal(opt.flag_do, true);
  assert.equal(ask({ name: "www.gslb.test" }).packet!.additionals!.length, 0, "no OPT without EDNS in the query");
  const bad = ask({ name: "www.gslb.test", edns: { version: 1 } });
  assert.equal(bad.rcode, "BADVERS");
  const badOpt = bad.packet!.additionals!.find((a) => a.type === "OPT") as dnsPacket.OptAnswer;
  assert.equal(badOpt.extendedRcode, 1);
  assert.equal(bad.packet!.answers!.length, 0);
});

test("message - ECS: the response echoes the subnet with the scope the decision used", () => {
  const eu = ecsOf(ask({ name: "www.gslb.test", edns: { ecs: { ip: "10.1.0.0", prefix: 24 } } }).packet!)!;
  assert.deepEqual([eu.ip, eu.sourcePrefixLength, eu.scopePrefixLength], ["10.1.0.0", 24, 16]);
  // Names whose answer does not depend on the client: scope 0.
  for (const spec of [{ name: "nope.gslb.test" }, { name: "gslb.test", type: "NS" as const }]) {
    const e = ecsOf(ask({ ...spec, edns: { ecs: { ip: "10.1.0.0", prefix: 24 } } }).packet!)!;
    assert.equal(e.scopePrefixLength, 0);
  }
  // Source prefix 0 means "do not locate me": the default order, scope 0.
  const zero = ask(
    { name: "www.gslb.test", edns: { ecs: { ip: "0.0.0.0", prefix: 0 } } },
    {
      transport: "udp",
      sourceAddress: "127.122.0.1",
    },
  );
  assert.equal(zero.firstSite, "nyc");
  assert.equal(ecsOf(zero.packet!)!.scopePrefixLength, 0);
  // ECS wins over the source address.
  const ecsWins = ask(
    { name: "www.gslb.test", edns: { ecs: { ip: "10.3.0.0", prefix: 24 } } },
    {
      transport: "udp",
      sourceAddress: "127.122.0.1",
    },
  );
  assert.equal(ecsWins.firstSite, "lon");
});

test("message - an answer too big for UDP is sent with TC=1 and in full over TCP", () => {
  const big = stateOf(
    parsePlanet(testPlanetYaml({ subnetBase: 120, dnsPort: 15353, gatewayPort: 18080, gateways: 8 })),
  );
  const plain = ask({ name: "shop.gslb.test" }, udp, big);
  assert.ok(plain.truncated);
  assert.ok(plain.packet!.flag_tc);
  assert.equal(plain.packet!.answers!.length, 0);
  assert.equal(plain.packet!.questions![0].name, "shop.gslb.test");
  assert.ok(plain.response!.length <= 512);
  // With EDNS the client's size decides (never below 512, never above ours).
  const edns = ask({ name: "shop.gslb.test", edns: { udpPayloadSize: 1232 } }, udp, big);
  assert.equal(edns.packet!.answers!.length, 24);
  assert.ok(!edns.packet!.flag_tc);
  const small = ask({ name: "shop.gslb.test", edns: { udpPayloadSize: 100 } }, udp, big);
  assert.ok(small.packet!.flag_tc && small.response!.length <= 512);
  assert.ok(
    small.packet!.additionals!.some((a) => a.type === "OPT"),
    "the OPT survives truncation",
  );
  const overTcp = ask({ name: "shop.gslb.test" }, tcp, big);
  assert.equal(overTcp.packet!.answers!.length, 24);
  assert.ok(!overTcp.packet!.flag_tc);
});

function withHeader(buf: Buffer, edit: (b: Buffer) => void): Buffer {
  const copy = Buffer.from(buf);
  edit(copy);
  return copy;
}

test("message - every reply to an EDNS query carries an OPT record, FORMERR and NOTIMP included", () => {
  const edns = buildQuery({ name: "www.gslb.test", edns: { do: true } });
  const optOf = (p: dnsPacket.DecodedPacket) =>
    (p.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
  const cases: [string, Buffer, string][] = [
    ["trailing bytes", Buffer.concat([edns, Buffer.from([0])]), "FORMERR"],
    ["two questions", withHeader(edns, (b) => b.writeUInt16BE(2, 4)), "FORMERR"],
    ["opcode NOTIFY", withHeader(edns, (b) => b.writeUInt16BE(b.readUInt16BE(2) | (4 << 11), 2)), "NOTIMP"],
  ];
  for (const [what, buf, rcode] of cases) {
    const r = ask(buf);
    assert.equal(r.rcode, rcode, what);
    const opt = optOf(r.packet!);
    assert.ok(opt, `${what}: OPT in the ${rcode}`);
    assert.equal(opt.udpPayloadSize, 1232, what);
    assert.equal(opt.flag_do, true, `${what}: DO copied`);
  }
  // Without EDNS in the query, none in the error either.
  const plain = buildQuery({ name: "www.gslb.test" });
  const r = ask(Buffer.concat([plain, Buffer.from([0])]));
  assert.equal(r.rcode, "FORMERR");
  assert.equal(r.packet!.additionals!.length, 0);
});

test("message - hostile or malformed queries get FORMERR, NOTIMP, REFUSED or no answer", () => {
  const good = buildQuery({ name: "www.gslb.test", id: 99 });
  // Too short for a header, or a response: no answer at all.
  assert.equal(ask(Buffer.alloc(11)).response, undefined);
  assert.equal(ask(withHeader(good, (b) => b.writeUInt16BE(b.readUInt16BE(2) | 0x8000, 2))).response, undefined);
  // Opcodes other than QUERY (NOTIFY, UPDATE, STATUS).
  for (const opcode of [2, 4, 5]) {
    const r = ask(withHeader(good, (b) => b.writeUInt16BE((b.readUInt16BE(2) & ~0x7800) | (opcode << 11), 2)));
    assert.equal(r.packet!.rcode, "NOTIMP");
    assert.equal(r.packet!.id, 99);
    assert.equal((r.response![2] >> 3) & 0xf, opcode, "the opcode is echoed");
  }
  assert.equal(rcodeOf(withHeader(good, (b) => b.writeUInt16BE(0, 4))), "FORMERR");
  assert.equal(rcodeOf(withHeader(good, (b) => b.writeUInt16BE(2, 4))), "FORMERR");
  // Truncated anywhere inside the question.
  for (let cut = 12; cut < good.length; cut++) assert.equal(rcodeOf(good.subarray(0, cut)), "FORMERR", `cut ${cut}`);
  // Trailing garbage, a label running past the end, a reserved label type, a pointer.
  assert.equal(rcodeOf(Buffer.concat([good, Buffer.from([1, 2, 3])])), "FORMERR");
  assert.equal(rcodeOf(withHeader(good, (b) => (b[12] = 60))), "FORMERR");
  assert.equal(rcodeOf(withHeader(good, (b) => (b[12] = 0x40))), "FORMERR");
  const pointerLoop = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
  assert.equal(rcodeOf(pointerLoop), "FORMERR");
  // A name over 255 octets.
  const long = Buffer.concat([
    good.subarray(0, 12),
    Buffer.from(
      Array(5)
        .fill([63, ...Array(63).fill(97)])
        .flat(),
    ),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  assert.equal(rcodeOf(long), "FORMERR");
  // A compression loop in the additional section (a name pointing at itself).
  const loop = Buffer.concat([
    withHeader(good, (b) => b.writeUInt16BE(1, 10)),
    Buffer.from([0xc0, good.length, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]),
  ]);
  assert.equal(rcodeOf(loop), "FORMERR");
  // Two OPT records; an OPT in the answer section; malformed ECS.
  const withOpt = buildQuery({ name: "www.gslb.test", edns: {} });
  const optRr = withOpt.subarray(good.length);
  assert.equal(rcodeOf(Buffer.concat([withHeader(withOpt, (b) => b.writeUInt16BE(2, 10)), optRr])), "FORMERR");
  assert.equal(
    rcodeOf(
      withHeader(withOpt, (b) => {
        b.writeUInt16BE(1, 6);
        b.writeUInt16BE(0, 10);
      }),
    ),
    "FORMERR",
  );
  const ecs = buildQuery({ name: "www.gslb.test", edns: { ecs: { ip: "10.3.0.0", prefix: 16 } } });
  assert.equal(rcodeOf(withHeader(ecs, (b) => (b[b.length - 3] = 9))), "FORMERR", "scope set in a query");
  assert.equal(rcodeOf(withHeader(ecs, (b) => (b[b.length - 4] = 12))), "FORMERR", "address bits past the prefix");
  assert.equal(rcodeOf(withHeader(ecs, (b) => (b[b.length - 4] = 33))), "FORMERR", "prefix longer than IPv4");
  // Wrong class, zone transfers: REFUSED. Oversized: FORMERR.
  assert.equal(rcodeOf(withHeader(good, (b) => b.writeUInt16BE(3, b.length - 2))), "REFUSED");
  assert.equal(rcodeOf(withHeader(good, (b) => b.writeUInt16BE(255, b.length - 2))), "REFUSED");
  assert.equal(rcodeOf(buildQuery({ name: "gslb.test", type: "AXFR" })), "REFUSED");
  assert.equal(rcodeOf(Buffer.concat([good, Buffer.alloc(3000)])), "FORMERR");
  // A label holding a dot is one label, not two: it is not our service name.
  const dotted = Buffer.concat([
    good.subarray(0, 12),
    Buffer.from([8]),
    Buffer.from("www.gslb"),
    Buffer.from([4]),
    Buffer.from("test"),
    Buffer.from([0, 0, 1, 0, 1]),
  ]);
  assert.equal(rcodeOf(dotted), "REFUSED");
});
