// A strict, bounded parser of HTTP/1.x request and response heads. Hand parsing is where
// request smuggling lives, so anything two implementations could read differently is
// refused: both Content-Length and Transfer-Encoding, a repeated or malformed length,
// obs-fold, bare CR or LF, whitespace before a colon, control characters in values,
// versions other than HTTP/1.0 and HTTP/1.1, and Connection naming a framing field.
// The input is the head as a latin1 string (one char per byte) ending with CRLF CRLF;
// the caller found that end and bounded its size. The parser never throws on any input.
import { connectionTokensMax, contentLengthDigitsMax, headerFieldsMax, requestTargetBytesMax } from "./constants.ts";

export type Field = {
  /** As sent (case preserved). */
  readonly name: string;
  readonly lc: string;
  readonly value: string;
  /** The field's line in the head, [start, end) with end after its CRLF. */
  readonly start: number;
  readonly end: number;
  /** Removed when the head is forwarded (hop-by-hop, or rewritten by the gateway). */
  drop: boolean;
};

export type HeadRejection = {
  readonly ok: false;
  readonly status: 400 | 414 | 431 | 501;
  readonly reason: string;
};

type Common = {
  readonly ok: true;
  readonly head: string;
  /** Offset just after the first line's CRLF. */
  readonly firstLineEnd: number;
  readonly minor: 0 | 1;
  readonly fields: Field[];
  /** Some field is dropped, so the head cannot be forwarded byte for byte. */
  readonly anyDropped: boolean;
  /** -1 when absent. */
  readonly contentLength: number;
  readonly chunked: boolean;
  /** The sender keeps the connection open after this message. */
  readonly keepAlive: boolean;
  /** The protocol asked for with Connection: upgrade (e.g. "websocket"), if any. */
  readonly upgrade: string | undefined;
};

export type RequestHead = Common & {
  readonly method: string;
  /** Origin-form (or "*"); an absolute-form target is rewritten to origin-form. */
  readonly target: string;
  readonly targetRewritten: boolean;
  readonly host: string | undefined;
  readonly expectContinue: boolean;
  readonly idempotencyKey: boolean;
  readonly hop: string | undefined;
  readonly forwardedFor: string | undefined;
  readonly forwarded: string | undefined;
  readonly forwardedProto: string | undefined;
  readonly forwardedHost: string | undefined;
  readonly requestId: boolean;
};

export type ResponseHead = Common & {
  readonly status: number;
  /** Transfer-Encoding lists codings before the final chunked (e.g. "gzip, chunked"). */
  readonly codedBeyondChunked: boolean;
};

const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const tokenListRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+)*$/;
/** Visible ASCII except '#' (a fragment never travels) and '\\' (servers disagree on it: some read it as '/'). */
const targetRe = /^[\x21\x22\x24-\x5b\x5d-\x7e]+$/;
const digitsRe = /^[0-9]+$/;
const hostRe = /^[A-Za-z0-9\-._~!$&'()*+,;=:%[\]]+$/;
const absoluteRe = /^https?:\/\/([^/?#]+)(.*)$/i;

/** Fields that Connection may not name: removing them would change how the message is framed or routed. */
const protectedFields = new Set(["host", "content-length", "transfer-encoding"]);

function reject(status: HeadRejection["status"], reason: string): HeadRejection {
  return { ok: false, status, reason };
}

type Scan = {
  ok: true;
  fields: Field[];
  anyDropped: boolean;
  contentLength: number;
  transferEncoding: string | undefined;
  connection: string[];
  upgrade: string | undefined;
  host: string | undefined;
  hostCount: number;
  expect: string | undefined;
  idempotencyKey: boolean;
  hop: string | undefined;
  forwardedFor: string | undefined;
  forwarded: string | undefined;
  forwardedProto: string | undefined;
  forwardedHost: string | undefined;
  requestId: boolean;
};

/** tchar (RFC 9110 §5.6.2) by char code: 1 for the characters a token may hold. */
const tchar = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  tchar[c.charCodeAt(0)] = 1;

/** `s[from, to)` is a token: what tokenRe says, without a substring and a regex per field. */
function isTokenAt(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) if (tchar[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** `s[from, to)` holds only HTAB, SP, visible ASCII and obs-text (a field value: no CR, LF, NUL or other controls). */
function isValueAt(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

function isOws(code: number): boolean {
  return code === 32 || code === 9;
}

/** Reads the field lines from `pos` to the empty line; returns a rejection or the scan. */
function scanFields(head: string, pos: number, isRequest: boolean, dropInternal = false): Scan | HeadRejection {
  const scan: Scan = {
    ok: true,
    fields: [],
    anyDropped: false,
    contentLength: -1,
    transferEncoding: undefined,
    connection: [],
    upgrade: undefined,
    host: undefined,
    hostCount: 0,
    expect: undefined,
    idempotencyKey: false,
    hop: undefined,
    forwardedFor: undefined,
    forwarded: undefined,
    forwardedProto: undefined,
    forwardedHost: undefined,
    requestId: false,
  };
  for (;;) {
    const e = head.indexOf("\r\n", pos);
    if (e < 0) return reject(400, "head does not end with an empty line");
    if (e === pos) break;
    if (scan.fields.length >= headerFieldsMax) return reject(431, "too many header fields");
    if (isOws(head.charCodeAt(pos))) return reject(400, "obsolete line folding");
    const colon = head.indexOf(":", pos);
    if (colon <= pos || colon >= e) return reject(400, "a field line without a name and colon");
    if (!isTokenAt(head, pos, colon)) return reject(400, "invalid field name (or whitespace before the colon)");
    const name = head.slice(pos, colon);
    let vs = colon + 1;
    let ve = e;
    while (vs < ve && isOws(head.charCodeAt(vs))) vs++;
    while (ve > vs && isOws(head.charCodeAt(ve - 1))) ve--;
    if (!isValueAt(head, vs, ve)) return reject(400, `invalid characters in the value of ${name}`);
    const value = head.slice(vs, ve);
    const lc = name.toLowerCase();
    const field: Field = { name, lc, value, start: pos, end: e + 2, drop: false };
    scan.fields.push(field);
    pos = e + 2;
    switch (lc) {
      case "content-length":
        if (scan.contentLength !== -1) return reject(400, "more than one Content-Length");
        if (value.length > contentLengthDigitsMax || !digitsRe.test(value))
          return reject(400, "invalid Content-Length");
        scan.contentLength = Number(value);
        break;
      case "transfer-encoding":
        if (scan.transferEncoding !== undefined) return reject(400, "more than one Transfer-Encoding");
        scan.transferEncoding = value;
        break;
      case "connection": {
        const tokens = value.split(",");
        for (const raw of tokens) {
          const t = raw.trim().toLowerCase();
          if (t === "") continue;
          if (!tokenRe.test(t)) return reject(400, "invalid Connection option");
          scan.connection.push(t);
        }
        if (scan.connection.length > connectionTokensMax) return reject(431, "too many Connection options");
        field.drop = true;
        break;
      }
      case "upgrade":
        if (scan.upgrade !== undefined) return reject(400, "more than one Upgrade");
        scan.upgrade = value;
        field.drop = true;
        break;
      case "keep-alive":
      case "proxy-connection":
      case "te":
      case "http2-settings":
        field.drop = true;
        break;
      default:
        if (isRequest) requestField(scan, field, lc, value);
        else if (dropInternal && lc.startsWith("rs-")) field.drop = true;
    }
    if (field.drop) scan.anyDropped = true;
  }
  for (const token of scan.connection) {
    if (protectedFields.has(token)) return reject(400, `Connection may not name ${token}`);
  }
  if (scan.connection.length > 0) {
    for (const f of scan.fields) {
      if (scan.connection.includes(f.lc)) {
        f.drop = true;
        scan.anyDropped = true;
      }
    }
    // A field the client named in Connection is hop-by-hop: it must not act past this hop either.
    for (const token of scan.connection) forgetField(scan, token);
  }
  return scan;
}

/** Undoes what a request field set, once Connection named it (it is removed, so it means nothing). */
function forgetField(scan: Scan, lc: string): void {
  switch (lc) {
    case "idempotency-key":
      scan.idempotencyKey = false;
      break;
    case "rs-hop":
      scan.hop = undefined;
      break;
    case "x-forwarded-for":
      scan.forwardedFor = undefined;
      break;
    case "forwarded":
      scan.forwarded = undefined;
      break;
    case "x-forwarded-proto":
      scan.forwardedProto = undefined;
      break;
    case "x-forwarded-host":
      scan.forwardedHost = undefined;
      break;
    case "x-request-id":
      scan.requestId = false;
      break;
  }
}

function requestField(scan: Scan, field: Field, lc: string, value: string): void {
  switch (lc) {
    case "host":
      scan.hostCount++;
      scan.host = value;
      break;
    case "expect":
      scan.expect = value.toLowerCase();
      break;
    case "idempotency-key":
      if (value !== "") scan.idempotencyKey = true;
      break;
    case "rs-hop":
      // Checked by the gateway (a peer's stamp); never passed on as it came.
      scan.hop = value;
      field.drop = true;
      break;
    case "x-forwarded-for":
      scan.forwardedFor = scan.forwardedFor === undefined ? value : `${scan.forwardedFor}, ${value}`;
      field.drop = true;
      break;
    case "forwarded":
      scan.forwarded = scan.forwarded === undefined ? value : `${scan.forwarded}, ${value}`;
      field.drop = true;
      break;
    case "x-forwarded-proto":
      if (scan.forwardedProto === undefined) scan.forwardedProto = value;
      field.drop = true;
      break;
    case "x-forwarded-host":
      if (scan.forwardedHost === undefined) scan.forwardedHost = value;
      field.drop = true;
      break;
    case "x-request-id":
      scan.requestId = true;
      break;
  }
}

const FRAMED_CHUNKED = 1;
const FRAMED_CODED_CHUNKED = 2;

/**
 * Checks Transfer-Encoding against Content-Length and the version; returns 0 (not chunked),
 * FRAMED_CHUNKED, FRAMED_CODED_CHUNKED (a response with codings before the final chunked,
 * e.g. "gzip, chunked": framed by chunked all the same), or a rejection.
 */
function framing(scan: Scan, minor: 0 | 1, isRequest: boolean): number | HeadRejection {
  const te = scan.transferEncoding;
  if (te === undefined) return 0;
  if (scan.contentLength !== -1) return reject(400, "both Content-Length and Transfer-Encoding");
  // RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; a 1.0 peer that sends one is framed differently by others.
  if (minor === 0) return reject(400, `Transfer-Encoding in an HTTP/1.0 ${isRequest ? "request" : "response"}`);
  if (te.toLowerCase() === "chunked") return FRAMED_CHUNKED;
  if (!tokenListRe.test(te)) return reject(400, "invalid Transfer-Encoding");
  if (isRequest) return reject(501, "only the chunked transfer coding is supported");
  const codings = te
    .toLowerCase()
    .split(",")
    .map((c) => c.trim());
  // Chunked must come last, once: anything else leaves the end of the body to a close, or to a guess.
  if (codings.at(-1) !== "chunked" || codings.indexOf("chunked") !== codings.length - 1)
    return reject(400, "Transfer-Encoding must end with chunked, once");
  return FRAMED_CODED_CHUNKED;
}

export function parseRequestHead(head: string): RequestHead | HeadRejection {
  const lineEnd = head.indexOf("\r\n");
  if (lineEnd <= 0) return reject(400, "empty request line");
  const sp1 = head.indexOf(" ");
  if (sp1 <= 0 || sp1 > lineEnd) return reject(400, "malformed request line");
  const sp2 = head.indexOf(" ", sp1 + 1);
  if (sp2 < 0 || sp2 > lineEnd) return reject(400, "malformed request line");
  if (!isTokenAt(head, 0, sp1)) return reject(400, "invalid method");
  const method = head.slice(0, sp1);
  let target = head.slice(sp1 + 1, sp2);
  if (target.length > requestTargetBytesMax) return reject(414, "request target too long");
  if (!targetRe.test(target)) return reject(400, "invalid request target");
  let minor: 0 | 1;
  if (lineEnd !== sp2 + 9 || !head.startsWith("HTTP/1.", sp2 + 1)) return reject(400, "unsupported HTTP version");
  const m = head.charCodeAt(sp2 + 8);
  if (m === 49 /* 1 */) minor = 1;
  else if (m === 48 /* 0 */) minor = 0;
  else return reject(400, "unsupported HTTP version");
  if (method === "CONNECT") return reject(501, "CONNECT is not supported");

  const scan = scanFields(head, lineEnd + 2, true);
  if (!scan.ok) return scan;
  const framed = framing(scan, minor, true);
  if (typeof framed !== "number") return framed;
  const chunked = framed !== 0;

  let host = scan.host;
  if (scan.hostCount > 1) return reject(400, "more than one Host");
  if (host !== undefined && !hostRe.test(host)) return reject(400, "invalid Host");
  if (host === undefined && minor === 1) return reject(400, "missing Host");

  let targetRewritten = false;
  let anyDropped = scan.anyDropped;
  if (target.charCodeAt(0) !== 47 /* / */) {
    if (target === "*") {
      if (method !== "OPTIONS") return reject(400, "asterisk-form is for OPTIONS only");
    } else {
      const m = absoluteRe.exec(target);
      if (!m || !hostRe.test(m[1])) return reject(400, "invalid request target");
      // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
      host = m[1];
      target = m[2] === "" ? "/" : m[2].charCodeAt(0) === 47 ? m[2] : `/${m[2]}`;
      targetRewritten = true;
      for (const f of scan.fields) {
        if (f.lc === "host") {
          f.drop = true;
          anyDropped = true;
        }
      }
    }
  }

  const close = scan.connection.includes("close");
  const keepAlive = minor === 1 ? !close : !close && scan.connection.includes("keep-alive");
  const upgrade =
    minor === 1 &&
    scan.upgrade !== undefined &&
    scan.connection.includes("upgrade") &&
    scan.upgrade.toLowerCase() !== "h2c"
      ? scan.upgrade
      : undefined;
  return {
    ok: true,
    head,
    firstLineEnd: lineEnd + 2,
    minor,
    fields: scan.fields,
    anyDropped,
    contentLength: scan.contentLength,
    chunked,
    keepAlive,
    upgrade,
    method,
    target,
    targetRewritten,
    host,
    expectContinue: scan.expect === "100-continue",
    idempotencyKey: scan.idempotencyKey,
    hop: scan.hop,
    forwardedFor: scan.forwardedFor,
    forwarded: scan.forwarded,
    forwardedProto: scan.forwardedProto,
    forwardedHost: scan.forwardedHost,
    requestId: scan.requestId,
  };
}

/**
 * The status of a status line `head[0, lineEnd)`, or -1 when it is not
 * `HTTP/1.(0|1) [1-5]DD[ reason]`, the reason of HTAB, SP, visible ASCII and obs-text.
 */
function statusLine(head: string, lineEnd: number): number {
  if (lineEnd < 12 || !head.startsWith("HTTP/1.", 0)) return -1;
  const minor = head.charCodeAt(7);
  if ((minor !== 48 && minor !== 49) || head.charCodeAt(8) !== 32) return -1;
  const d0 = head.charCodeAt(9) - 48;
  const d1 = head.charCodeAt(10) - 48;
  const d2 = head.charCodeAt(11) - 48;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return -1;
  if (lineEnd > 12 && (head.charCodeAt(12) !== 32 || !isValueAt(head, 13, lineEnd))) return -1;
  return d0 * 100 + d1 * 10 + d2;
}

/** `dropInternal`: the response comes from an app, whose RS-* fields are the gateway's to set, never the app's. */
export function parseResponseHead(head: string, dropInternal = false): ResponseHead | HeadRejection {
  const lineEnd = head.indexOf("\r\n");
  if (lineEnd <= 0) return reject(400, "empty status line");
  const status = statusLine(head, lineEnd);
  if (status < 0) return reject(400, "malformed status line");
  const minor = head.charCodeAt(7) === 49 /* 1 */ ? 1 : 0;
  const scan = scanFields(head, lineEnd + 2, false, dropInternal);
  if (!scan.ok) return scan;
  const framed = framing(scan, minor, false);
  if (typeof framed !== "number") return framed;
  const chunked = framed !== 0;
  const close = scan.connection.includes("close");
  const keepAlive = minor === 1 ? !close : !close && scan.connection.includes("keep-alive");
  const upgrade = status === 101 ? scan.upgrade : undefined;
  return {
    ok: true,
    head,
    firstLineEnd: lineEnd + 2,
    minor,
    fields: scan.fields,
    anyDropped: scan.anyDropped,
    contentLength: scan.contentLength,
    chunked,
    keepAlive,
    upgrade,
    status,
    codedBeyondChunked: framed === FRAMED_CODED_CHUNKED,
  };
}

const CR = 13;
const LF = 10;
/** A buffer needle: searching with a string needle converts it on every call. */
const headEnd = Buffer.from("\r\n\r\n", "latin1");

/**
 * Where a head ends in `buf` (the offset after CRLF CRLF), or -1 when more bytes are
 * needed, or -2 when the bytes already show a bare LF (a head that a lenient peer could
 * end earlier than we would). `scanned`: bytes from the start already searched by an
 * earlier call without finding the end; only what came after them is searched again (with
 * 3 bytes of overlap), so a head that arrives a byte at a time costs linear time.
 */
export function findHeadEnd(buf: Buffer, from: number, scanned = 0): number {
  const resume = Math.max(scanned, from);
  const i = buf.indexOf(headEnd, Math.max(resume - 3, from));
  if (i >= 0) return i + 4;
  let lf = buf.indexOf(LF, resume);
  while (lf >= 0) {
    if (lf === from || buf[lf - 1] !== CR) return -2;
    lf = buf.indexOf(LF, lf + 1);
  }
  return -1;
}

/** Number of leading CRLF pairs at `from` (tolerated before a request line). */
export function leadingEmptyLines(buf: Buffer, from: number): number {
  let n = 0;
  while (from + 1 < buf.length && buf[from] === CR && buf[from + 1] === LF) {
    from += 2;
    n++;
  }
  return n;
}
