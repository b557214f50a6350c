// X-Request-Id values for requests that carry none. A UUID drawn at random per request costs
// more than the rest of the request's rewrite; an id only has to be unique, so each
// gateway draws one random UUID and counts in its last 12 hex digits (2^48 ids, then a new
// draw). Two gateways share a prefix with odds of about 2^-74. The data path writes an id
// straight into the upstream head's bytes (write), so a request makes no string for it.
import { randomUUID } from "node:crypto";

const counterSpan = 2 ** 48;
const lowSpan = 2 ** 24;
/** Characters in an id (a UUID's shape). */
export const requestIdLength = 36;
/** The id's first 30 characters, which change every 2^24 ids. */
const prefixLength = 30;
/** Two hex digits for each byte value. */
const hex2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
/** The character code of each hex digit. */
const hexCode = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/** A source of UUID-shaped ids, each unique; `start` sets the counter (tests: its rollovers). */
export class RequestIds {
  #start: number | undefined;
  #uuidHead = "";
  /** The UUID's first 24 characters and the counter's upper 6 hex digits. */
  #prefix = "";
  #next = counterSpan;

  constructor(start?: number) {
    this.#start = start;
  }

  /** Takes the next counter value; returns its low 24 bits (the rest is in #prefix). */
  #take(): number {
    if (this.#next >= counterSpan) {
      const u = randomUUID();
      this.#uuidHead = u.slice(0, 24);
      this.#next = this.#start ?? Number.parseInt(u.slice(24, 27), 16) * 2 ** 36;
      this.#start = undefined;
      this.#prefix = "";
    }
    if (this.#prefix === "" || this.#next % lowSpan === 0) {
      this.#prefix =
        this.#uuidHead +
        Math.floor(this.#next / lowSpan)
          .toString(16)
          .padStart(6, "0");
    }
    return this.#next++ % lowSpan;
  }

  next(): string {
    const low = this.#take();
    return this.#prefix + hex2[low >>> 16] + hex2[(low >>> 8) & 255] + hex2[low & 255];
  }

  /** Writes the next id into `buf` at `at` (requestIdLength bytes, latin1). */
  write(buf: Buffer, at: number): void {
    const low = this.#take();
    buf.write(this.#prefix, at, prefixLength, "latin1");
    for (let i = 0; i < 6; i++) buf[at + prefixLength + i] = hexCode[(low >>> (20 - 4 * i)) & 15];
  }
}

/** A function that returns the next id of a new source (tests). */
export function requestIds(start?: number): () => string {
  const ids = new RequestIds(start);
  return () => ids.next();
}

/** The gateway's ids. */
export const gatewayRequestIds = new RequestIds();
export const nextRequestId: () => string = () => gatewayRequestIds.next();
