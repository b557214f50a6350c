// One DNS message in, at most one out. Pure: the answer depends only on the bytes, the
// transport, the source address, the zone and the ranker's current state, so the same
// query gets the same answer from every DNS server of the planet, and a fuzzer can drive
// it without sockets. Never throws on any input (the fuzz tests hold it to that).
import dnsPacket from "dns-packet";
import { parseIpv4 } from "../../topology/index.ts";
import { nsTtlS, queryBytesMax, udpPayloadBytesAdvertised, udpPayloadBytesNoEdns } from "./constants.ts";
import type { Ranked, Ranker } from "./ranking.ts";
import {
  type ClientSubnet,
  classIn,
  clientSubnetOption,
  encodeResponse,
  flagDo,
  type Header,
  headerOnlyResponse,
  minimalOpt,
  optionClientSubnet,
  parseClientSubnet,
  type Question,
  qtypes,
  rcodes,
  readHeader,
  readQuestion,
  responseFlags,
} from "./wire.ts";
import { classifyName, type Zone } from "./zone.ts";

export type Transport = "udp" | "tcp";

export type HandleContext = {
  readonly transport: Transport;
  /** The source address of the query (the resolver's, or the client's own). */
  readonly sourceAddress: string;
};

export type HandleResult = {
  /** The response, or undefined when none must be sent (not a query, or too short to answer). */
  readonly response: Buffer | undefined;
  /** For metrics: the query type as a name, the response code as a name or "DROP". */
  readonly qtype: string;
  readonly rcode: string;
  readonly truncated: boolean;
  /** The site listed first, for answers with gateway addresses. */
  readonly firstSite: string | undefined;
};

export type AnswerState = { readonly zone: Zone; readonly ranker: Ranker };

const qtypeNames = new Map<number, string>(Object.entries(qtypes).map(([k, v]) => [v, k]));
const rcodeNames = new Map<number, string>(Object.entries(rcodes).map(([k, v]) => [v, k]));

type Edns = {
  readonly udpPayloadBytes: number;
  readonly version: number;
  readonly dnssecOk: boolean;
  readonly clientSubnet: ClientSubnet | undefined;
};

type ParsedQuery =
  | { ok: true; header: Header; question: Question; edns: Edns | undefined }
  | { ok: false; header: Header; question: Question | undefined; rcode: number; dnssecOk?: boolean };

/** The HINFO record RFC 8482 answers ANY with: small, so ANY cannot amplify. */
const anyHinfo = { cpu: "RFC8482", os: "" };

function drop(): HandleResult {
  return { response: undefined, qtype: "NONE", rcode: "DROP", truncated: false, firstSite: undefined };
}

function qtypeName(question: Question | undefined): string {
  if (!question) return "NONE";
  return qtypeNames.get(question.qtype) ?? "OTHER";
}

/** Reads the additional section through dns-packet: at most one OPT, owned by the root, only there. */
function readEdns(buf: Buffer): { edns: Edns | undefined } | undefined {
  let decoded: dnsPacket.DecodedPacket;
  try {
    decoded = dnsPacket.decode(buf);
  } catch {
    return undefined;
  }
  // Trailing bytes after the last record mean the counts lie.
  if (dnsPacket.decode.bytes !== buf.length) return undefined;
  const isOpt = (a: dnsPacket.Answer): boolean => a.type === "OPT";
  if ((decoded.answers ?? []).some(isOpt) || (decoded.authorities ?? []).some(isOpt)) return undefined;
  const opts = (decoded.additionals ?? []).filter(isOpt) as dnsPacket.OptAnswer[];
  if (opts.length === 0) return { edns: undefined };
  if (opts.length > 1 || opts[0].name !== ".") return undefined;
  const opt = opts[0];
  let clientSubnet: ClientSubnet | undefined;
  for (const option of opt.options ?? []) {
    if (option.code !== optionClientSubnet) continue;
    if (clientSubnet || !option.data) return undefined;
    const parsed = parseClientSubnet(option.data);
    if (!parsed) return undefined;
    clientSubnet = parsed;
  }
  return {
    edns: {
      udpPayloadBytes: opt.udpPayloadSize,
      version: opt.ednsVersion,
      dnssecOk: (opt.flags & flagDo) !== 0,
      clientSubnet,
    },
  };
}

/**
 * For an error reply: whether the query carries an OPT record we can find (then the reply
 * gets one too: RFC 6891 7 wants OPT on every reply to an EDNS query, FORMERR included),
 * and its DO bit. Undefined when there is none, or the message is too broken to tell.
 */
function optIn(buf: Buffer, header: Header): { dnssecOk: boolean } | undefined {
  if (header.arcount === 0 || buf.length > queryBytesMax) return undefined;
  try {
    const decoded = dnsPacket.decode(buf);
    const opt = (decoded.additionals ?? []).find((a) => a.type === "OPT") as dnsPacket.OptAnswer | undefined;
    if (opt) return { dnssecOk: (opt.flags & flagDo) !== 0 };
  } catch {
    // The counts or the names are broken (that is why it is an error): look at the tail.
  }
  // Resolvers put the OPT record last: a root owner, type OPT, and an RDATA length that
  // ends exactly at the end of the message.
  for (let at = buf.length - 11; at >= 12; at--) {
    if (buf[at] === 0 && buf.readUInt16BE(at + 1) === qtypes.OPT && at + 11 + buf.readUInt16BE(at + 9) === buf.length) {
      return { dnssecOk: (buf.readUInt16BE(at + 7) & flagDo) !== 0 };
    }
  }
  return undefined;
}

function parse(buf: Buffer): ParsedQuery | undefined {
  const header = readHeader(buf);
  // Too short to carry an id, or itself a response: answering could start a loop between
  // two servers, so nothing is sent (RFC 1035 leaves it to us; every server drops these).
  if (!header || (header.flags & 0x8000) !== 0) return undefined;
  const fail = (rcode: number): ParsedQuery => {
    const opt = optIn(buf, header);
    return { ok: false, header, question: undefined, rcode, ...(opt && { dnssecOk: opt.dnssecOk }) };
  };
  if (buf.length > queryBytesMax) return fail(rcodes.FORMERR);
  if (header.opcode !== 0) return fail(rcodes.NOTIMP);
  if (header.qdcount !== 1) return fail(rcodes.FORMERR);
  const question = readQuestion(buf, 12);
  if (!question) return fail(rcodes.FORMERR);
  let edns: Edns | undefined;
  if (header.ancount + header.nscount + header.arcount === 0) {
    if (question.end !== buf.length) return fail(rcodes.FORMERR);
  } else {
    const read = readEdns(buf);
    if (!read) return fail(rcodes.FORMERR);
    edns = read.edns;
  }
  return { ok: true, header, question, edns };
}

function optRecord(edns: Edns, options: { extendedRcode?: number; ecsScope?: number }): dnsPacket.Answer {
  const ecs = edns.clientSubnet && options.ecsScope !== undefined ? edns.clientSubnet : undefined;
  return {
    name: ".",
    type: "OPT",
    udpPayloadSize: udpPayloadBytesAdvertised,
    extendedRcode: options.extendedRcode ?? 0,
    ednsVersion: 0,
    // RFC 3225: the DO bit is copied into the response.
    flags: edns.dnssecOk ? flagDo : 0,
    flag_do: edns.dnssecOk,
    options: ecs ? [clientSubnetOption(ecs, options.ecsScope!) as dnsPacket.PacketOpt] : [],
  } as dnsPacket.OptAnswer;
}

/** Where the client is, from ECS if present, else from the source address. */
function rankFor(ranker: Ranker, edns: Edns | undefined, sourceAddress: string): Ranked {
  const ecs = edns?.clientSubnet;
  if (ecs) {
    // An IPv6 subnet, or a source prefix of 0 ("do not use my address"), locates nothing.
    if (ecs.family !== 1 || ecs.sourcePrefixLength === 0) return ranker.rank(undefined, 0);
    return ranker.rank(ecs.ipv4, ecs.sourcePrefixLength);
  }
  const text = sourceAddress.startsWith("::ffff:") ? sourceAddress.slice(7) : sourceAddress;
  return ranker.rank(parseIpv4(text), 32);
}

type Sections = {
  rcode: number;
  aa: boolean;
  answers: dnsPacket.Answer[];
  authorities: dnsPacket.Answer[];
  additionals: dnsPacket.Answer[];
  firstSite: string | undefined;
  /** Set when the answer depends on where the client is. */
  ecsScope: number;
};

function answerFor(state: AnswerState, q: Question, edns: Edns | undefined, sourceAddress: string): Sections {
  const zone = state.zone;
  const out: Sections = {
    rcode: rcodes.NOERROR,
    aa: true,
    answers: [],
    authorities: [],
    additionals: [],
    firstSite: undefined,
    ecsScope: 0,
  };
  if (q.qclass !== classIn || q.qtype === qtypes.AXFR || q.qtype === qtypes.IXFR) {
    return { ...out, rcode: rcodes.REFUSED, aa: false };
  }
  const kind = classifyName(zone, q.labels);
  if (kind.kind === "outside") return { ...out, rcode: rcodes.REFUSED, aa: false };
  const soa = (): dnsPacket.Answer => ({ name: zone.apex, type: "SOA", ttl: zone.ttlS, data: zone.soa });
  if (kind.kind === "nxdomain") return { ...out, rcode: rcodes.NXDOMAIN, authorities: [soa()] };
  // The owner name of what we answer is the name as asked (its labels are letters, digits
  // and hyphens: it matched one of ours).
  const owner = q.labelsAsSent.join(".") || ".";
  if (q.qtype === qtypes.ANY) {
    // RFC 8482: ANY gets one small HINFO record, not everything the name has, so a spoofed
    // ANY cannot be turned into a large reflected answer (over TCP too: one behaviour).
    out.answers.push({ name: owner, type: "HINFO", ttl: zone.ttlS, data: anyHinfo });
    return out;
  }
  if (kind.kind === "apex") {
    if (q.qtype === qtypes.SOA) out.answers.push({ ...soa(), name: owner });
    if (q.qtype === qtypes.NS) {
      for (const ns of zone.nameServers) {
        out.answers.push({ name: owner, type: "NS", ttl: nsTtlS, data: ns.name });
        out.additionals.push({ name: ns.name, type: "A", ttl: nsTtlS, data: ns.host });
      }
    }
  } else if (kind.kind === "nameserver") {
    if (q.qtype === qtypes.A) out.answers.push({ name: owner, type: "A", ttl: nsTtlS, data: kind.host });
  } else if (q.qtype === qtypes.A) {
    const ranked = rankFor(state.ranker, edns, sourceAddress);
    // The nearest healthy site only, plus the service's fallback sites: resolvers and stubs
    // re-sort or rotate an RRset, so every address listed is one a user may be sent to.
    const sitesListed = 1 + (zone.fallbackSites.get(kind.label) ?? 0);
    for (const hosts of ranked.hostsBySite.slice(0, sitesListed)) {
      for (const host of hosts) out.answers.push({ name: owner, type: "A", ttl: zone.ttlS, data: host });
    }
    out.firstSite = ranked.sites[0];
    out.ecsScope = ranked.scopePrefixLength;
  }
  // NODATA: the name exists, the type does not (AAAA included: no IPv6 gateways yet).
  if (out.answers.length === 0) out.authorities.push(soa());
  return out;
}

/** Handles one query. Never throws. */
export function handleQuery(buf: Buffer, ctx: HandleContext, state: AnswerState): HandleResult {
  const parsed = parse(buf);
  if (!parsed) return drop();
  const { header } = parsed;
  if (!parsed.ok) {
    const opt = parsed.dnssecOk === undefined ? undefined : minimalOpt(udpPayloadBytesAdvertised, parsed.dnssecOk);
    return {
      response: headerOnlyResponse(header.id, header.flags, parsed.rcode, opt),
      qtype: "NONE",
      rcode: rcodeNames.get(parsed.rcode) ?? String(parsed.rcode),
      truncated: false,
      firstSite: undefined,
    };
  }
  const { question, edns } = parsed;
  const qtype = qtypeName(question);
  if (edns && edns.version > 0) {
    // RFC 6891 6.1.3: an EDNS version we do not speak gets BADVERS (16: upper bits in the OPT).
    const response = encodeResponse(
      {
        type: "response",
        id: header.id,
        flags: responseFlags(header.flags, { aa: false, rcode: rcodes.BADVERS & 0xf }),
        additionals: [optRecord(edns, { extendedRcode: rcodes.BADVERS >> 4 })],
      },
      question.raw,
    );
    return { response, qtype, rcode: "BADVERS", truncated: false, firstSite: undefined };
  }
  const s = answerFor(state, question, edns, ctx.sourceAddress);
  const ecsScope = edns?.clientSubnet ? s.ecsScope : undefined;
  const additionals = edns ? [...s.additionals, optRecord(edns, { ecsScope })] : s.additionals;
  let response = encodeResponse(
    {
      type: "response",
      id: header.id,
      flags: responseFlags(header.flags, { aa: s.aa, rcode: s.rcode }),
      answers: s.answers,
      authorities: s.authorities,
      additionals,
    },
    question.raw,
  );
  let truncated = false;
  if (ctx.transport === "udp") {
    // RFC 6891 6.2.5: a requestor's size below 512 is treated as 512; we never exceed ours.
    const limit = edns
      ? Math.min(Math.max(edns.udpPayloadBytes, udpPayloadBytesNoEdns), udpPayloadBytesAdvertised)
      : udpPayloadBytesNoEdns;
    if (response.length > limit) {
      // TC=1 with the question (and the OPT) only: the resolver asks again over TCP.
      truncated = true;
      response = encodeResponse(
        {
          type: "response",
          id: header.id,
          flags: responseFlags(header.flags, { aa: s.aa, tc: true, rcode: s.rcode }),
          additionals: edns ? [optRecord(edns, { ecsScope })] : [],
        },
        question.raw,
      );
    }
  }
  return { response, qtype, rcode: rcodeNames.get(s.rcode) ?? String(s.rcode), truncated, firstSite: s.firstSite };
}
