// A cache of whole responses. handleQuery is a pure function of the query bytes, the
// transport, the source address and the ranker's state, so a query that repeats (apart from
// its id and the case of its name) from the same source gets the same response until health
// or weights change (the ranker's generation). A hit costs one string key and a copy instead
// of a parse, a ranking and an encode. Only small queries that got NOERROR or NXDOMAIN are
// kept, so garbage cannot fill it; when full it is cleared (bounded, no LRU bookkeeping).
//
// The key folds the case of the query name (ASCII only, as DNS compares names): resolvers
// randomise it on every query (0x20 encoding), and a key on the exact bytes made nearly every
// such query a miss. A hit is given back the asker's case: the question is copied from the
// query, and so is every owner name that repeats the query name (our answers are
// uncompressed, so those are byte copies at offsets found once, when the entry is stored).
import { responseCacheEntriesMax, responseCacheQueryBytesMax } from "./constants.ts";
import type { HandleContext, HandleResult } from "./message.ts";

type Entry = {
  readonly result: HandleResult;
  readonly response: Buffer;
  /** Where the query name sits in the response (the question, then each owner that repeats it). */
  readonly nameOffsets: readonly number[];
};

/** The end of the query name that starts at offset 12, or -1 when it is not a plain name. */
function nameEnd(buf: Buffer): number {
  let at = 12;
  while (at < buf.length) {
    const len = buf[at];
    if (len === 0) return at + 1;
    if ((len & 0xc0) !== 0) return -1;
    at += 1 + len;
  }
  return -1;
}

function asciiLower(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b + 0x20 : b;
}

/** Whether buf holds, at `at`, the same name as the query's (bytes 12..12+length), ignoring ASCII case. */
function sameNameAt(buf: Buffer, at: number, query: Buffer, length: number): boolean {
  if (at + length > buf.length) return false;
  for (let i = 0; i < length; i++) if (asciiLower(buf[at + i]) !== asciiLower(query[12 + i])) return false;
  return true;
}

/**
 * The offsets of the owner names in our own response that are the query name. Undefined
 * when the response is not laid out as we write it (then it is not cached).
 */
function ownerOffsets(response: Buffer, query: Buffer, nameLength: number): number[] | undefined {
  if (response.readUInt16BE(4) !== 1) return undefined;
  const records = response.readUInt16BE(6) + response.readUInt16BE(8) + response.readUInt16BE(10);
  const offsets = [12];
  let at = 12 + nameLength + 4;
  for (let r = 0; r < records; r++) {
    const start = at;
    for (;;) {
      if (at >= response.length) return undefined;
      const len = response[at];
      // dns-packet never compresses: a pointer means a layout this cache does not know.
      if ((len & 0xc0) !== 0) return undefined;
      at += 1 + len;
      if (len === 0) break;
    }
    if (at - start === nameLength && sameNameAt(response, start, query, nameLength)) offsets.push(start);
    if (at + 10 > response.length) return undefined;
    at += 10 + response.readUInt16BE(at + 8);
  }
  return at === response.length ? offsets : undefined;
}

export class ResponseCache {
  readonly #entries = new Map<string, Entry>();
  #generation = -1;

  #key(buf: Buffer, ctx: HandleContext, end: number): string {
    const folded = Buffer.from(buf.subarray(2));
    for (let i = 12 - 2; i < end - 2; i++) folded[i] = asciiLower(folded[i]);
    return `${ctx.transport}${ctx.sourceAddress}|${folded.toString("latin1")}`;
  }

  /** The cached result for this query with its id and name case patched in, or undefined. */
  get(buf: Buffer, ctx: HandleContext, generation: number): HandleResult | undefined {
    if (generation !== this.#generation || buf.length > responseCacheQueryBytesMax || buf.length < 12) return undefined;
    const end = nameEnd(buf);
    if (end < 0) return undefined;
    const hit = this.#entries.get(this.#key(buf, ctx, end));
    if (!hit) return undefined;
    const response = Buffer.allocUnsafe(hit.response.length);
    hit.response.copy(response);
    response[0] = buf[0];
    response[1] = buf[1];
    for (const at of hit.nameOffsets) buf.copy(response, at, 12, end);
    return { ...hit.result, response };
  }

  put(buf: Buffer, ctx: HandleContext, generation: number, result: HandleResult): void {
    if (!result.response || buf.length > responseCacheQueryBytesMax || buf.length < 12) return;
    if (result.rcode !== "NOERROR" && result.rcode !== "NXDOMAIN") return;
    const end = nameEnd(buf);
    if (end < 0) return;
    const nameOffsets = ownerOffsets(result.response, buf, end - 12);
    if (!nameOffsets) return;
    if (generation !== this.#generation) {
      this.#entries.clear();
      this.#generation = generation;
    }
    if (this.#entries.size >= responseCacheEntriesMax) this.#entries.clear();
    this.#entries.set(this.#key(buf, ctx, end), { result, response: result.response, nameOffsets });
  }
}
