// The upstream request heads of one client connection, as the bytes the socket takes. A
// client that repeats its request on a kept-alive connection gets the same parsed head
// back (head-memo.ts), and its upstream head differs from the last one only in the
// X-Request-Id: the bytes are kept and only the id's 36 bytes are written again. So a
// repeated request makes no strings and no buffer for its head, and the socket is given
// bytes rather than a string it would have to flatten and encode on every write.
//
// The bytes are shared: they are valid until the next request on the connection, and an
// exchange whose write did not go out at once (the socket still holds a view of them)
// lends them, so the next request copies them before writing its id.
import { hopHeaderName } from "./constants.ts";
import type { RequestHead } from "./http-head.ts";
import { gatewayRequestIds, requestIdLength } from "./request-id.ts";
import { type RequestRewrite, upstreamHeadEnd, upstreamHeadStart } from "./rewrite.ts";

const idName = "X-Request-Id: ";

export type HeadRewrite = Omit<RequestRewrite, "requestId">;

export class UpstreamHeads {
  readonly #fromClient: HeadRewrite;
  readonly #fromPeer: HeadRewrite;
  /** The parsed head the bytes were made for (from a client, never from a peer gateway). */
  #for: RequestHead | null = null;
  #bytes: Buffer | null = null;
  /** Where the id goes in #bytes; -1 when the request carries its own. */
  #idAt = -1;
  /** A write still points into #bytes: they must not change. */
  #lent = false;

  /** `w`: what the connection's requests are rewritten with (its fromPeer is decided per request). */
  constructor(w: Omit<HeadRewrite, "fromPeer">) {
    this.#fromClient = { ...w, fromPeer: false };
    this.#fromPeer = { ...w, fromPeer: true };
  }

  /**
   * The upstream head for a new request (a new id), ending with its empty line; valid until
   * the next call. A request from a peer gateway (an authenticated RS-Hop) keeps that
   * gateway's forwarding fields, which vary per request: its head is made afresh, not kept.
   */
  next(h: RequestHead, fromPeer: boolean): Buffer {
    if (fromPeer) {
      const made = build(h, this.#fromPeer);
      if (made.idAt >= 0) gatewayRequestIds.write(made.bytes, made.idAt);
      return made.bytes;
    }
    if (h !== this.#for || this.#bytes === null) {
      const made = build(h, this.#fromClient);
      this.#for = h;
      this.#bytes = made.bytes;
      this.#idAt = made.idAt;
      this.#lent = false;
    } else if (this.#idAt < 0) {
      // Nothing in them changes: shared even while a write still holds them.
      return this.#bytes;
    } else if (this.#lent) {
      this.#bytes = Buffer.from(this.#bytes);
      this.#lent = false;
    }
    if (this.#idAt >= 0) gatewayRequestIds.write(this.#bytes, this.#idAt);
    return this.#bytes;
  }

  /** `bytes` (from next()) are still being written: the next request must not change them. */
  lend(bytes: Buffer): void {
    if (bytes === this.#bytes) this.#lent = true;
  }
}

/** `head` with an RS-Hop line before its empty line: what goes to another site's gateway. */
export function withHopLine(head: Buffer, stamp: string): Buffer {
  const line = `${hopHeaderName}: ${stamp}\r\n\r\n`;
  const out = Buffer.allocUnsafe(head.length - 2 + line.length);
  head.copy(out, 0, 0, head.length - 2);
  out.write(line, head.length - 2, "latin1");
  return out;
}

/** The bytes of a head: upstreamRequestHead's text, its final CRLF, and room for an id (idAt, or -1). */
function build(h: RequestHead, w: HeadRewrite): { bytes: Buffer; idAt: number } {
  const start = upstreamHeadStart(h, w);
  const end = upstreamHeadEnd(h);
  const idLineBytes = h.requestId ? 0 : idName.length + requestIdLength + 2;
  const bytes = Buffer.allocUnsafe(start.length + idLineBytes + end.length + 2);
  let at = bytes.write(start, 0, "latin1");
  let idAt = -1;
  if (!h.requestId) {
    at += bytes.write(idName, at, "latin1");
    idAt = at;
    at += requestIdLength;
    at += bytes.write("\r\n", at, "latin1");
  }
  at += bytes.write(end, at, "latin1");
  bytes.write("\r\n", at, "latin1");
  return { bytes, idAt };
}
