// One upstream TCP connection to a target (an app instance or another site's gateway).
// Its listeners are attached once and route events to whichever exchange owns it now; an
// idle connection in the pool has no owner, and any byte or close it sees removes it.
//
// It reads into a buffer of its own, reused read after read (the socket's `onread`): no
// allocation and no stream machinery per response. A chunk is therefore only valid during
// the owner's onUpstreamData; an owner that keeps a view of it past that (a write the
// client socket did not take at once) calls lend(), and the next read gets a new buffer.
import { connect, type Socket } from "node:net";
import type { FailureKind, Target } from "./balancer.ts";
import { HeadMemo } from "./head-memo.ts";
import type { ResponseHead } from "./http-head.ts";
import type { Pooled } from "./pool.ts";
import { clientResponseHead, type ResponseRewrite } from "./rewrite.ts";

/** A fresh connection's read buffer: enough for most response heads and small bodies. */
const readBytesMin = 16 * 1024;
/** A read that filled the buffer says more is coming: later reads take up to this (Node's own read size). */
const readBytesMax = 64 * 1024;

export interface UpstreamOwner {
  onUpstreamConnect(up: UpstreamConn): void;
  onUpstreamData(up: UpstreamConn, chunk: Buffer): void;
  /** The peer closed its side (a close-delimited body ends here). */
  onUpstreamEnd(up: UpstreamConn): void;
  onUpstreamClose(up: UpstreamConn): void;
  onUpstreamDrain(up: UpstreamConn): void;
}

export class UpstreamConn implements Pooled {
  readonly socket: Socket;
  readonly target: Target<UpstreamConn>;
  owner: UpstreamOwner | null = null;
  connected = false;
  closed = false;
  idleSinceMs = 0;
  /** Requests this connection carried before the current one. */
  uses = 0;
  error: NodeJS.ErrnoException | undefined;
  /** The last response head on this connection (the target's kind, which decides RS-* dropping, never changes). */
  readonly headMemo = new HeadMemo<ResponseHead>();
  /** The last head the client got rewritten, as bytes (never changed once made, so writes may share them). */
  #rewrittenFor: ResponseHead | null = null;
  #rewrittenBy: ResponseRewrite | null = null;
  #rewritten: Buffer | undefined;
  #readBuf: Buffer = Buffer.allocUnsafeSlow(readBytesMin);
  /**
   * The last chunk handed to the owner, a view of #readBuf: the next read of the same length
   * hands it again (an app that repeats its responses fills the buffer alike every time), so
   * a read makes no view. Reusing the object is no less safe than reusing the bytes it shows.
   */
  #chunk: Buffer | null = null;
  /** The owner keeps a view of the last chunk: the next read must not overwrite it. */
  #lent = false;
  /** A read filled the buffer: the next one gets a bigger buffer. */
  #full = false;

  /** localAddress: the gateway's own address, so upstreams see which site's gateway calls them. */
  constructor(target: Target<UpstreamConn>, localAddress: string | undefined) {
    this.target = target;
    target.open++;
    this.socket = connect({
      host: target.host,
      port: target.port,
      noDelay: true,
      localAddress,
      onread: { buffer: () => this.#nextBuffer(), callback: (n: number) => this.#onRead(n) },
    });
    this.socket.on("connect", () => {
      this.connected = true;
      this.owner?.onUpstreamConnect(this);
    });
    this.socket.on("end", () => {
      if (this.owner) this.owner.onUpstreamEnd(this);
    });
    this.socket.on("drain", () => {
      this.owner?.onUpstreamDrain(this);
    });
    this.socket.on("error", (err: NodeJS.ErrnoException) => {
      this.error ??= err;
    });
    this.socket.on("close", () => {
      this.closed = true;
      this.target.open--;
      const owner = this.owner;
      this.owner = null;
      if (owner) owner.onUpstreamClose(this);
      else this.target.pool.remove(this);
    });
  }

  /** True: reading goes on (pausing is the owner's, through the socket). */
  #onRead(n: number): boolean {
    const buf = this.#readBuf;
    if (n === buf.length && buf.length < readBytesMax) this.#full = true;
    if (this.owner) {
      let chunk = this.#chunk;
      if (chunk === null || chunk.length !== n) {
        chunk = buf.subarray(0, n);
        this.#chunk = chunk;
      }
      this.owner.onUpstreamData(this, chunk);
    } else {
      this.destroy();
    }
    return true;
  }

  /** The buffer the next read goes into: the same one unless its bytes are still in use (or it was too small). */
  #nextBuffer(): Buffer {
    if (this.#lent || this.#full) {
      this.#readBuf = Buffer.allocUnsafeSlow(this.#full ? readBytesMax : this.#readBuf.length);
      this.#chunk = null;
      this.#lent = false;
      this.#full = false;
    }
    return this.#readBuf;
  }

  /**
   * clientResponseHead(r, w) as bytes, or undefined when `r` goes as it came. An app that
   * repeats its head (the head memo gives the same `r`) with fields the gateway must rewrite
   * — node:http's Connection and Keep-Alive — gets the bytes made for the last one.
   */
  clientHead(r: ResponseHead, w: ResponseRewrite): Buffer | undefined {
    if (r !== this.#rewrittenFor || w !== this.#rewrittenBy) {
      const text = clientResponseHead(r, w);
      this.#rewritten = text === undefined ? undefined : Buffer.from(text, "latin1");
      this.#rewrittenFor = r;
      this.#rewrittenBy = w;
    }
    return this.#rewritten;
  }

  /** The owner keeps (a view of) the chunk it was just given: the next read goes into another buffer. */
  lend(): void {
    this.#lent = true;
  }

  get alive(): boolean {
    return !this.closed && !this.socket.destroyed && !this.socket.readableEnded;
  }

  /** Why this connection failed, for a try that got no response head. */
  failureKind(): FailureKind {
    if (this.connected) return "reset";
    const code = this.error?.code;
    if (code === "ECONNREFUSED") return "connect-refused";
    if (code === "ETIMEDOUT") return "connect-timeout";
    return "connect-error";
  }

  /** Closes without telling the owner (who asked for it). */
  detachAndDestroy(): void {
    this.owner = null;
    this.destroy();
  }

  destroy(): void {
    if (!this.closed) this.socket.destroy();
  }
}
