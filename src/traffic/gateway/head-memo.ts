// The last head parsed on one connection, kept with a copy of its bytes: a client that
// repeats its request (an API poll, a health check, a load test) or an app that repeats its
// response head (same status and fields) is recognised by one byte comparison, and the
// parse, which is a pure function of those bytes, is not run again. A head that differs
// costs that one comparison. Heads are never changed after parsing, so sharing one is safe.
import { headMemoBytesMax } from "./constants.ts";

export class HeadMemo<H> {
  #bytes: Buffer | null = null;
  #head: H | null = null;

  /**
   * The length of the remembered head when `buf` holds its very bytes at `from` (then
   * `head` is its parse, and the head ends there too: its only CRLF CRLF is its last four
   * bytes), else 0. So a repeated head is neither searched for its end nor parsed.
   */
  match(buf: Buffer, from: number): number {
    const b = this.#bytes;
    if (b === null) return 0;
    const n = b.length;
    if (buf.length - from < n) return 0;
    // Short heads compare faster in a loop than through Buffer.compare's argument checks.
    if (n > 256) return buf.compare(b, 0, n, from, from + n) === 0 ? n : 0;
    for (let i = 0; i < n; i++) if (buf[from + i] !== b[i]) return 0;
    return n;
  }

  /** The head the last successful match() found. */
  get head(): H {
    return this.#head as H;
  }

  /** Remembers `head`, parsed from `buf[from, end)` (heads over headMemoBytesMax are not kept). */
  set(buf: Buffer, from: number, end: number, head: H): void {
    if (end - from > headMemoBytesMax) {
      this.#bytes = null;
      this.#head = null;
      return;
    }
    const b = this.#bytes !== null && this.#bytes.length === end - from ? this.#bytes : Buffer.allocUnsafe(end - from);
    buf.copy(b, 0, from, end);
    this.#bytes = b;
    this.#head = head;
  }
}
