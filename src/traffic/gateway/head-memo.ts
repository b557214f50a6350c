// The last head parsed on one connection, kept with a copy of its bytes: a client that
// repeats its request (an API poll, a health check, a load test) or an app that repeats its
// response head (same status and fields) is recognised by one byte comparison, and the
// parse, which is a pure function of those bytes, is not run again. A head that differs
// costs that one comparison. Heads are never changed after parsing, so sharing one is safe.
import { headMemoBytesMax } from "./constants.ts";

export class HeadMemo<H> {
  #bytes: Buffer | null = null;
  #head: H | null = null;

  /** The head parsed from the same bytes as `buf[from, end)`, if the last one was. */
  get(buf: Buffer, from: number, end: number): H | null {
    const b = this.#bytes;
    if (b === null || b.length !== end - from || buf.compare(b, 0, b.length, from, end) !== 0) return null;
    return this.#head;
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
