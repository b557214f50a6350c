// X-Request-Id values for requests that carry none. A UUID drawn at random per request costs
// more than the rest of the request's rewrite; an id only has to be unique, so each
// gateway draws one random UUID and counts in its last 12 hex digits (2^48 ids, then a new
// draw). Two gateways share a prefix with odds of about 2^-74.
import { randomUUID } from "node:crypto";

const counterSpan = 2 ** 48;
const lowSpan = 2 ** 24;
/** Two hex digits for each byte value. */
const hex2 = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/** A source of UUID-shaped ids, each unique; `start` sets the counter (tests: its rollovers). */
export function requestIds(start?: number): () => string {
  let uuidHead = "";
  /** The UUID's first 24 characters and the counter's upper 6 hex digits: they change every 2^24 ids. */
  let prefix = "";
  let next = counterSpan;
  return () => {
    if (next >= counterSpan) {
      const u = randomUUID();
      uuidHead = u.slice(0, 24);
      next = start ?? Number.parseInt(u.slice(24, 27), 16) * 2 ** 36;
      start = undefined;
      prefix = "";
    }
    if (prefix === "" || next % lowSpan === 0) {
      prefix =
        uuidHead +
        Math.floor(next / lowSpan)
          .toString(16)
          .padStart(6, "0");
    }
    const low = next++ % lowSpan;
    return prefix + hex2[low >>> 16] + hex2[(low >>> 8) & 255] + hex2[low & 255];
  };
}

/** The gateway's ids. */
export const nextRequestId: () => string = requestIds();
