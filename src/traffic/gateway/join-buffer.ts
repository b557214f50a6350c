// Joins a rewritten response head and the body bytes that came with it into one buffer, so
// the client socket gets one write instead of two under cork (Node's writev path allocates
// for every buffered chunk). One per client connection, reused response after response
// while no write holds it: a write that did not go out at once still points into it, so
// the caller lends it and the next join takes new storage.
import { assert } from "../../core/index.ts";
import { responseJoinBytesMax } from "./constants.ts";

/** Storage is sized to the response that needs it, but not below this (most heads and small bodies fit). */
const storeBytesMin = 2 * 1024;

export class JoinBuffer {
  #store: Buffer | null = null;
  /** The last result: the next join of the same length gives it again (no view made). */
  #view: Buffer | null = null;
  #lent = false;

  /** Whether `head` and `bodyBytes` are small enough to be joined. */
  static fits(head: Buffer, bodyBytes: number): boolean {
    return head.length + bodyBytes <= responseJoinBytesMax;
  }

  /** `head` followed by `body[from, to)`, valid until the next join (unless lent). */
  join(head: Buffer, body: Buffer, from: number, to: number): Buffer {
    const n = head.length + (to - from);
    assert(n <= responseJoinBytesMax, "only a response that fits is joined");
    if (this.#lent || this.#store === null || this.#store.length < n) {
      this.#store = Buffer.allocUnsafeSlow(Math.max(n, storeBytesMin));
      this.#view = null;
      this.#lent = false;
    }
    let view = this.#view;
    if (view === null || view.length !== n) {
      view = this.#store.subarray(0, n);
      this.#view = view;
    }
    head.copy(view, 0);
    body.copy(view, head.length, from, to);
    return view;
  }

  /** The last join is still being written: the next one must not overwrite it. */
  lend(): void {
    this.#lent = true;
  }
}
