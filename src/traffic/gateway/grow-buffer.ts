// Appends bytes that arrive in pieces (a head delivered a byte per write) in amortised
// linear time: the storage doubles, so n bytes cost O(n) copies, not the O(n²) of
// concatenating the whole buffer on every read. Bytes already handed out (views the
// sockets may still be writing) are never overwritten: only the free tail is written.
export class GrowBuffer {
  #store: Buffer | null = null;
  #used = 0;

  /** A copy of `chunk` in this buffer's storage, which a later append may extend in place. */
  copy(chunk: Buffer): Buffer {
    const next = Buffer.allocUnsafeSlow(Math.max(4096, 2 * chunk.length));
    chunk.copy(next, 0);
    this.#store = next;
    this.#used = chunk.length;
    return next.subarray(0, chunk.length);
  }

  /** The bytes of `view` followed by `chunk`; `view` must be null or the last result (or a suffix of it). */
  append(view: Buffer | null, chunk: Buffer): Buffer {
    if (view === null) {
      this.#store = null;
      return chunk;
    }
    const store = this.#store;
    if (
      store !== null &&
      view.buffer === store.buffer &&
      view.byteOffset + view.length === store.byteOffset + this.#used &&
      this.#used + chunk.length <= store.length
    ) {
      chunk.copy(store, this.#used);
      this.#used += chunk.length;
      return store.subarray(view.byteOffset - store.byteOffset, this.#used);
    }
    const total = view.length + chunk.length;
    const next = Buffer.allocUnsafeSlow(Math.max(4096, 2 * total));
    view.copy(next, 0);
    chunk.copy(next, view.length);
    this.#store = next;
    this.#used = total;
    return next.subarray(0, total);
  }
}
