// The parts of the wire format the server reads before it trusts a packet: the header and
// the one question, parsed strictly by hand so that a hostile packet is judged on its real
// bytes (a label holding a dot, a pointer in the question, a name over 255 octets). The
// rest of the message, EDNS0 and every record we write go through dns-packet; the question
// is echoed byte for byte (RFC 1035 4.1.1, and the 0x20 case bits resolvers rely on).
import dnsPacket from "dns-packet";
import { nameBytesMax } from "./constants.ts";

export const rcodes = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export type RcodeName = keyof typeof rcodes;

export const qtypes = { A: 1, NS: 2, SOA: 6, HINFO: 13, AAAA: 28, OPT: 41, IXFR: 251, AXFR: 252, ANY: 255 } as const;
export const classIn = 1;
export const optionClientSubnet = 8;

export const flagQr = 0x8000;
export const flagAa = 0x0400;
export const flagTc = 0x0200;
export const flagRd = 0x0100;
export const flagCd = 0x0010;
export const flagDo = 0x8000;

export type Header = {
  readonly id: number;
  readonly flags: number;
  readonly opcode: number;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
};

export function readHeader(buf: Buffer): Header | undefined {
  if (buf.length < 12) return undefined;
  const flags = buf.readUInt16BE(2);
  return {
    id: buf.readUInt16BE(0),
    flags,
    opcode: (flags >> 11) & 0xf,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

export type Question = {
  /** Labels lower-cased (ASCII only, as DNS compares), most specific first; bytes as latin1. */
  readonly labels: readonly string[];
  /** The labels as sent, for owner names of the records we answer with. */
  readonly labelsAsSent: readonly string[];
  readonly qtype: number;
  readonly qclass: number;
  /** The question's bytes, echoed unchanged in the response. */
  readonly raw: Buffer;
  /** Offset just after the question. */
  readonly end: number;
};

/** Reads the question at `offset`; undefined when it is malformed. */
export function readQuestion(buf: Buffer, offset: number): Question | undefined {
  const labels: string[] = [];
  const labelsAsSent: string[] = [];
  let at = offset;
  let nameBytes = 1;
  for (;;) {
    if (at >= buf.length) return undefined;
    const len = buf[at];
    if (len === 0) {
      at++;
      break;
    }
    // A question is the first name of the message: a compression pointer could only point
    // into the header, and the 0x40/0x80 label types are obsolete. Both are malformed here.
    if ((len & 0xc0) !== 0) return undefined;
    nameBytes += len + 1;
    if (nameBytes > nameBytesMax || at + 1 + len > buf.length) return undefined;
    let lower = "";
    let sent = "";
    for (let i = at + 1; i <= at + len; i++) {
      const b = buf[i];
      sent += String.fromCharCode(b);
      lower += String.fromCharCode(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
    }
    labels.push(lower);
    labelsAsSent.push(sent);
    at += 1 + len;
  }
  if (at + 4 > buf.length) return undefined;
  return {
    labels,
    labelsAsSent,
    qtype: buf.readUInt16BE(at),
    qclass: buf.readUInt16BE(at + 2),
    raw: buf.subarray(offset, at + 4),
    end: at + 4,
  };
}

/** A label of letters, digits and hyphens: safe to hand to dns-packet as text. */
export function isHostnameLabel(label: string): boolean {
  return /^[A-Za-z0-9-]{1,63}$/.test(label);
}

export type ClientSubnet = {
  readonly family: number;
  readonly sourcePrefixLength: number;
  /** The address octets as sent (exactly ceil(source/8) of them). */
  readonly address: Buffer;
  /** The IPv4 address as a number (zero bits past the prefix), when family is 1. */
  readonly ipv4: number | undefined;
};

/**
 * Parses an EDNS Client Subnet option (RFC 7871 6). Undefined when it is malformed: wrong
 * family, a prefix longer than the family, too few or too many address octets, address bits
 * set past the prefix, or a scope set in a query. RFC 7871 asks for FORMERR then.
 */
export function parseClientSubnet(data: Buffer): ClientSubnet | undefined {
  if (data.length < 4) return undefined;
  const family = data.readUInt16BE(0);
  const source = data[2];
  const scope = data[3];
  const bitsMax = family === 1 ? 32 : family === 2 ? 128 : -1;
  if (bitsMax < 0 || source > bitsMax || scope !== 0) return undefined;
  const address = data.subarray(4);
  if (address.length !== Math.ceil(source / 8)) return undefined;
  if (source % 8 !== 0 && address.length > 0) {
    const spare = 8 - (source % 8);
    if ((address[address.length - 1] & ((1 << spare) - 1)) !== 0) return undefined;
  }
  let ipv4: number | undefined;
  if (family === 1) {
    ipv4 = 0;
    for (let i = 0; i < 4; i++) ipv4 = ipv4 * 256 + (address[i] ?? 0);
  }
  return { family, sourcePrefixLength: source, address, ipv4 };
}

/** The ECS option of a response: the query's family, prefix and address, with our scope. */
export function clientSubnetOption(ecs: ClientSubnet, scopePrefixLength: number): { code: 8; data: Buffer } {
  const data = Buffer.allocUnsafe(4 + ecs.address.length);
  data.writeUInt16BE(ecs.family, 0);
  data[2] = ecs.sourcePrefixLength;
  data[3] = scopePrefixLength;
  ecs.address.copy(data, 4);
  return { code: optionClientSubnet, data };
}

/**
 * Encodes a response with dns-packet and splices the query's question in, raw, right after
 * the header. dns-packet never compresses names, so no offset inside the rest moves.
 */
export function encodeResponse(packet: dnsPacket.Packet, question: Buffer | undefined): Buffer {
  const body = dnsPacket.encode({ ...packet, questions: [] });
  if (!question) return body;
  const out = Buffer.allocUnsafe(body.length + question.length);
  body.copy(out, 0, 0, 12);
  out.writeUInt16BE(1, 4);
  question.copy(out, 12);
  body.copy(out, 12 + question.length, 12);
  return out;
}

/** Header flags of a response: QR, the query's opcode, RD and CD copied, AA when authoritative. */
export function responseFlags(queryFlags: number, options: { aa: boolean; tc?: boolean; rcode: number }): number {
  return (
    flagQr |
    (queryFlags & 0x7800) |
    (options.aa ? flagAa : 0) |
    (options.tc ? flagTc : 0) |
    (queryFlags & flagRd) |
    (queryFlags & flagCd) |
    (options.rcode & 0xf)
  );
}

/** The OPT record of a reply to an EDNS query, as raw bytes: our payload size, version 0, DO copied, no options. */
export function minimalOpt(udpPayloadBytes: number, dnssecOk: boolean): Buffer {
  const out = Buffer.alloc(11);
  // Owner: the root (one zero byte); then type OPT, class = payload size, TTL = ext-rcode,
  // version, flags; no RDATA.
  out.writeUInt16BE(qtypes.OPT, 1);
  out.writeUInt16BE(udpPayloadBytes, 3);
  out.writeUInt16BE(dnssecOk ? flagDo : 0, 7);
  return out;
}

/**
 * A header-only response (FORMERR, NOTIMP for a query whose question cannot be trusted);
 * with `opt`, the OPT record an EDNS query must get back (RFC 6891 7), errors included.
 */
export function headerOnlyResponse(id: number, queryFlags: number, rcode: number, opt?: Buffer): Buffer {
  const out = Buffer.alloc(12 + (opt?.length ?? 0));
  out.writeUInt16BE(id, 0);
  out.writeUInt16BE(responseFlags(queryFlags, { aa: false, rcode }), 2);
  if (opt) {
    out.writeUInt16BE(1, 10);
    opt.copy(out, 12);
  }
  return out;
}
