// A cache of whole responses. handleQuery is a pure function of the query bytes, the
// transport, the source address and the ranker's state, so a query that repeats byte for
// byte (apart from its id) from the same source gets the same response until health or
// weights change (the ranker's generation). A hit costs one string key and a copy instead
// of a parse, a ranking and an encode. Only small queries that got NOERROR or NXDOMAIN are
// kept, so garbage cannot fill it; when full it is cleared (bounded, no LRU bookkeeping).
import { responseCacheEntriesMax, responseCacheQueryBytesMax } from "./constants.ts";
import type { HandleContext, HandleResult } from "./message.ts";

type Entry = { readonly result: HandleResult; readonly response: Buffer };

export class ResponseCache {
  readonly #entries = new Map<string, Entry>();
  #generation = -1;

  #key(buf: Buffer, ctx: HandleContext): string {
    return `${ctx.transport}${ctx.sourceAddress}|${buf.toString("latin1", 2)}`;
  }

  /** The cached result for this query with its id patched in, or undefined. */
  get(buf: Buffer, ctx: HandleContext, generation: number): HandleResult | undefined {
    if (generation !== this.#generation || buf.length > responseCacheQueryBytesMax || buf.length < 12) return undefined;
    const hit = this.#entries.get(this.#key(buf, ctx));
    if (!hit) return undefined;
    const response = Buffer.allocUnsafe(hit.response.length);
    hit.response.copy(response);
    response[0] = buf[0];
    response[1] = buf[1];
    return { ...hit.result, response };
  }

  put(buf: Buffer, ctx: HandleContext, generation: number, result: HandleResult): void {
    if (!result.response || buf.length > responseCacheQueryBytesMax) return;
    if (result.rcode !== "NOERROR" && result.rcode !== "NXDOMAIN") return;
    if (generation !== this.#generation) {
      this.#entries.clear();
      this.#generation = generation;
    }
    if (this.#entries.size >= responseCacheEntriesMax) this.#entries.clear();
    this.#entries.set(this.#key(buf, ctx), { result, response: result.response });
  }
}
