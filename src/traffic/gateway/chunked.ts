// A streaming, strict decoder of the chunked transfer coding (RFC 9112 §7.1). The gateway
// forwards chunked bodies byte for byte, so it decodes only to learn where the body ends
// (and, for an HTTP/1.0 client, to hand out the data without the framing). Chunk sizes,
// extensions and trailers are bounded; a bare CR or LF, a missing CRLF after data, or a
// malformed size is an error, never a guess.
import { chunkExtensionBytesMax, chunkSizeHexDigitsMax, trailerBytesMax } from "./constants.ts";

const S_SIZE_FIRST = 0;
const S_SIZE = 1;
const S_EXT = 2;
const S_SIZE_LF = 3;
const S_DATA = 4;
const S_DATA_CR = 5;
const S_DATA_LF = 6;
const S_TRAILER_START = 7;
const S_TRAILER_NAME = 8;
const S_TRAILER_VALUE = 9;
const S_TRAILER_LF = 10;
const S_END_LF = 11;
const S_DONE = 12;
const S_ERROR = 13;

const CR = 13;
const LF = 10;
const HTAB = 9;

/** Token characters of RFC 9110 §5.6.2, as a lookup table. */
const isToken = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  isToken[c.charCodeAt(0)] = 1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Bytes allowed in a chunk extension or trailer value: HTAB, SP, VCHAR, obs-text. */
function isFieldByte(c: number): boolean {
  return c === HTAB || (c >= 0x20 && c !== 0x7f);
}

export type ChunkedData = (buf: Buffer, start: number, end: number) => void;

/**
 * Trailer fields that never pass the gateway: hop-by-hop ones, those that frame or route a
 * message (RFC 9110 §6.5.1 forbids them in trailers), and the gateway's own RS-* names.
 */
const trailerDropped = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "upgrade",
  "http2-settings",
  "trailer",
  "content-length",
  "host",
]);

/** The trailer section (field lines and the final CRLF) without the fields that must not pass. */
export function filterTrailers(section: string): string {
  let out = "";
  let pos = 0;
  for (;;) {
    const e = section.indexOf("\r\n", pos);
    if (e < 0 || e === pos) break;
    const line = section.slice(pos, e + 2);
    const name = line.slice(0, line.indexOf(":")).toLowerCase();
    if (!trailerDropped.has(name) && !name.startsWith("rs-")) out += line;
    pos = e + 2;
  }
  return `${out}\r\n`;
}

export class ChunkedDecoder {
  #state = S_SIZE_FIRST;
  #size = 0;
  #digits = 0;
  #extBytes = 0;
  #trailerBytes = 0;
  /** Why decoding failed, for logs. */
  error = "";
  /**
   * After a feed: where the trailer section starts in the bytes just fed (their start when
   * it began in an earlier feed), or -1 outside it. Bytes from here on are held in
   * `trailers` so they can be filtered (filterTrailers) instead of forwarded raw.
   */
  trailerFrom = -1;
  /** The raw trailer section read so far (field lines, then the final CRLF). */
  trailers = "";

  get done(): boolean {
    return this.#state === S_DONE;
  }

  /**
   * Consumes buf[start, end). Returns the offset just after the body's last byte when the
   * body ended inside this range, -1 when it needs more bytes, -2 on a framing error.
   * onData, when given, receives the chunk data without the framing.
   */
  feed(buf: Buffer, start: number, end: number, onData?: ChunkedData): number {
    let i = start;
    this.trailerFrom = this.#state >= S_TRAILER_START && this.#state <= S_END_LF ? start : -1;
    while (i < end) {
      const c = buf[i];
      if (this.#state >= S_TRAILER_START && this.#state <= S_END_LF) this.trailers += String.fromCharCode(c);
      switch (this.#state) {
        case S_SIZE_FIRST: {
          const h = hexValue(c);
          if (h < 0) return this.#fail("chunk size is not hexadecimal");
          this.#size = h;
          this.#digits = 1;
          this.#state = S_SIZE;
          i++;
          break;
        }
        case S_SIZE: {
          const h = hexValue(c);
          if (h >= 0) {
            if (++this.#digits > chunkSizeHexDigitsMax) return this.#fail("chunk size too large");
            this.#size = this.#size * 16 + h;
          } else if (c === 59 /* ; */) {
            this.#extBytes = 0;
            this.#state = S_EXT;
          } else if (c === CR) {
            this.#state = S_SIZE_LF;
          } else {
            return this.#fail("invalid byte after chunk size");
          }
          i++;
          break;
        }
        case S_EXT:
          if (c === CR) this.#state = S_SIZE_LF;
          else if (!isFieldByte(c)) return this.#fail("invalid byte in chunk extension");
          else if (++this.#extBytes > chunkExtensionBytesMax) return this.#fail("chunk extension too long");
          i++;
          break;
        case S_SIZE_LF:
          if (c !== LF) return this.#fail("chunk size line not ended by CRLF");
          this.#state = this.#size === 0 ? S_TRAILER_START : S_DATA;
          i++;
          if (this.#size === 0) this.trailerFrom = i;
          break;
        case S_DATA: {
          const n = Math.min(this.#size, end - i);
          if (onData) onData(buf, i, i + n);
          this.#size -= n;
          i += n;
          if (this.#size === 0) this.#state = S_DATA_CR;
          break;
        }
        case S_DATA_CR:
          if (c !== CR) return this.#fail("chunk data not followed by CRLF");
          this.#state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (c !== LF) return this.#fail("chunk data not followed by CRLF");
          this.#state = S_SIZE_FIRST;
          i++;
          break;
        case S_TRAILER_START:
          if (c === CR) {
            this.#state = S_END_LF;
          } else if (isToken[c]) {
            this.#state = S_TRAILER_NAME;
            if (++this.#trailerBytes > trailerBytesMax) return this.#fail("trailer too large");
          } else {
            return this.#fail("invalid trailer field");
          }
          i++;
          break;
        case S_TRAILER_NAME:
          if (c === 58 /* : */) this.#state = S_TRAILER_VALUE;
          else if (!isToken[c]) return this.#fail("invalid trailer field name");
          if (++this.#trailerBytes > trailerBytesMax) return this.#fail("trailer too large");
          i++;
          break;
        case S_TRAILER_VALUE:
          if (c === CR) this.#state = S_TRAILER_LF;
          else if (!isFieldByte(c)) return this.#fail("invalid byte in trailer value");
          else if (++this.#trailerBytes > trailerBytesMax) return this.#fail("trailer too large");
          i++;
          break;
        case S_TRAILER_LF:
          if (c !== LF) return this.#fail("trailer line not ended by CRLF");
          this.#state = S_TRAILER_START;
          i++;
          break;
        case S_END_LF:
          if (c !== LF) return this.#fail("chunked body not ended by CRLF");
          this.#state = S_DONE;
          return i + 1;
        default:
          // Done or failed: the caller must not feed more.
          return this.#state === S_DONE ? i : -2;
      }
    }
    return -1;
  }

  /**
   * After a feed that consumed up to `stop`: the end of the bytes to forward as they are.
   * Bytes after it are the trailer section, which goes out filtered (filteredTrailers) once
   * the body ended, except an empty one seen whole here, which is forwarded as it is.
   */
  rawEnd(stop: number): number {
    const from = this.trailerFrom;
    if (from < 0 || (this.done && this.trailers === "\r\n" && from + 2 === stop)) return stop;
    return from;
  }

  /** What to write after the raw bytes once the body ended; undefined when rawEnd covered it all. */
  filteredTrailers(stop: number): string | undefined {
    if (!this.done || this.rawEnd(stop) === stop) return undefined;
    return filterTrailers(this.trailers);
  }

  #fail(why: string): number {
    this.#state = S_ERROR;
    this.error = why;
    return -2;
  }
}
