// Response-rate limiting (RRL), as BIND and Knot do it for authoritative servers. A UDP
// query's source address can be forged, so a flood of small queries "from" a victim turns
// an authoritative server into an amplifier aimed at it. Each source prefix (/24 for IPv4)
// gets a token bucket of `responsesPerS` answers per second (a burst of one second's worth);
// past it, answers are dropped — except every `slip`-th, which is sent truncated (TC=1, the
// question and OPT only: smaller than the query's answer), so a real client behind that
// prefix still gets through by asking again over TCP, which cannot be spoofed. TCP answers
// are never limited. The table of prefixes is bounded (rrlPrefixesMax).
import { rrlPrefixesMax } from "./constants.ts";
import { flagTc, qtypes } from "./wire.ts";

export type RrlVerdict = "send" | "slip" | "drop";

export type RrlOptions = {
  /** Answers per second per prefix; 0 turns the limiter off. */
  readonly responsesPerS: number;
  /** Every slip-th limited answer is sent truncated; 0 drops them all. */
  readonly slip: number;
};

type Bucket = { tokens: number; atMs: number; limited: number };

/** The prefix a source address is accounted under: its /24 for IPv4, else the address itself. */
export function rrlPrefixOf(address: string): string {
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  const dot = v4.lastIndexOf(".");
  return dot > 0 && !v4.includes(":") ? v4.slice(0, dot) : address;
}

export class ResponseRateLimiter {
  readonly #o: RrlOptions;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RrlOptions) {
    this.#o = options;
  }

  get enabled(): boolean {
    return this.#o.responsesPerS > 0;
  }

  /** Whether to send the answer to this source now, send it truncated, or drop it. */
  check(sourceAddress: string, nowMs: number): RrlVerdict {
    const rate = this.#o.responsesPerS;
    if (rate <= 0) return "send";
    const prefix = rrlPrefixOf(sourceAddress);
    let b = this.#buckets.get(prefix);
    if (!b) {
      if (this.#buckets.size >= rrlPrefixesMax) this.#evict(nowMs);
      b = { tokens: rate, atMs: nowMs, limited: 0 };
      this.#buckets.set(prefix, b);
    } else {
      b.tokens = Math.min(rate, b.tokens + ((nowMs - b.atMs) * rate) / 1000);
      b.atMs = nowMs;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return "send";
    }
    b.limited++;
    return this.#o.slip > 0 && b.limited % this.#o.slip === 0 ? "slip" : "drop";
  }

  /** Prefixes being tracked (for tests and the metric). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Forgets buckets idle a second or more (they are full again: the same as absent), else the oldest quarter. */
  #evict(nowMs: number): void {
    for (const [prefix, b] of this.#buckets) if (nowMs - b.atMs >= 1000) this.#buckets.delete(prefix);
    if (this.#buckets.size < rrlPrefixesMax) return;
    let n = Math.ceil(rrlPrefixesMax / 4);
    for (const prefix of this.#buckets.keys()) {
      if (n-- <= 0) break;
      this.#buckets.delete(prefix);
    }
  }
}

/**
 * The slipped form of one of our responses: its header with TC=1, its question, and its OPT
 * record if it has one; no answer, authority or other additional records. Undefined when
 * the response is not laid out as we write it (then the answer is dropped instead).
 */
export function slipOf(response: Buffer): Buffer | undefined {
  if (response.length < 12) return undefined;
  const qd = response.readUInt16BE(4);
  const counts = [response.readUInt16BE(6), response.readUInt16BE(8), response.readUInt16BE(10)];
  let at = 12;
  const skipName = (): boolean => {
    for (;;) {
      if (at >= response.length) return false;
      const len = response[at];
      if ((len & 0xc0) !== 0) return false;
      at += 1 + len;
      if (len === 0) return true;
    }
  };
  for (let i = 0; i < qd; i++) {
    if (!skipName()) return undefined;
    at += 4;
  }
  const questionEnd = at;
  let opt: Buffer | undefined;
  for (let r = 0; r < counts[0] + counts[1] + counts[2]; r++) {
    const start = at;
    if (!skipName() || at + 10 > response.length) return undefined;
    const type = response.readUInt16BE(at);
    at += 10 + response.readUInt16BE(at + 8);
    if (at > response.length) return undefined;
    if (type === qtypes.OPT && r >= counts[0] + counts[1]) opt = response.subarray(start, at);
  }
  const out = Buffer.allocUnsafe(questionEnd + (opt?.length ?? 0));
  response.copy(out, 0, 0, questionEnd);
  out.writeUInt16BE(response.readUInt16BE(2) | flagTc, 2);
  out.writeUInt16BE(0, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  opt?.copy(out, questionEnd);
  return out;
}
