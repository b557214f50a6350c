// One client connection: reads request heads (bounded, strict), feeds request bodies to
// the exchange in progress by their framing, holds back pipelined requests until the one
// in progress is answered, answers the gateway's own endpoints, and becomes a tunnel after
// a 101. Requests on a connection are served one at a time, in order.
//
// Timers (resolved by the gateway's sweep): the head timer runs from accept and from the
// first byte after each response until a whole head is in (408, then close: also a client
// that sends only CRLFs); an idle kept-alive connection is closed; and once the gateway
// closes a connection, a client that does not take the last bytes is dropped after the
// linger deadline. Bytes of a head that arrives in pieces are appended and searched in
// linear time (GrowBuffer, findHeadEnd's resume offset).
import type { Socket } from "node:net";
import { adminPrefix, headBytesMax, leadingEmptyLinesMax, pipelinedBytesMax } from "./constants.ts";
import type { ProxyContext } from "./context.ts";
import { BODY_LENGTH, BODY_NONE, Exchange } from "./exchange.ts";
import { GrowBuffer } from "./grow-buffer.ts";
import { HeadMemo } from "./head-memo.ts";
import { findHeadEnd, leadingEmptyLines, parseRequestHead, type RequestHead } from "./http-head.ts";
import { JoinBuffer } from "./join-buffer.ts";
import { codeForStatus, errorResponse, serializeResponse } from "./responses.ts";
import { clientAddress, type ForwardingCache } from "./rewrite.ts";
import { UpstreamHeads } from "./upstream-head.ts";

const P_HEAD = 0;
const P_BODY = 1;
const P_WAIT = 2;
const P_TUNNEL = 3;
const P_CLOSED = 4;

export class ClientConn {
  readonly socket: Socket;
  readonly ctx: ProxyContext;
  readonly ip: string;
  /** Connected from one of the planet's gateway addresses (RS-Hop may then be believed, if its stamp checks). */
  readonly peer: boolean;
  lastActivityMs: number;
  /** The forwarding fields last sent upstream for this connection (rewrite.ts). */
  readonly forwarding: ForwardingCache = { host: "", text: "" };
  /** The upstream heads of this connection's requests, kept as bytes (upstream-head.ts). */
  readonly upstreamHeads: UpstreamHeads;
  /** Where a rewritten response head and its body's first bytes become one write (join-buffer.ts). */
  readonly joinBuffer = new JoinBuffer();
  /** The client sent FIN: answer what is in progress, then close. */
  ended = false;
  closed = false;
  #phase = P_HEAD;
  #buf: Buffer | null = null;
  #ex: Exchange | null = null;
  /** The last exchange, done: the next request takes it again instead of a new one (exchangeDone). */
  #spare: Exchange | null = null;
  /** When the head timer started (accept, or the first byte after a response); -1 while idle. */
  #headStartMs: number;
  /** Bytes at the start of #buf already searched for a head end. */
  #headScanned = 0;
  readonly #grow = new GrowBuffer();
  readonly #memo = new HeadMemo<RequestHead>();
  /** No byte ever arrived: a head timeout then closes without a 408 (a browser's preconnect, HAProxy's http-ignore-probes). */
  #silent = true;
  /** When the gateway closed its side (the linger deadline runs from here); -1 before. */
  #closingSinceMs = -1;
  #inProcess = false;
  /** The clock as read at the start of this turn's processing (a read, or the end of an exchange). */
  #nowMs = 0;
  #pausedForPipeline = false;
  #pausedForUpstream = false;
  readonly #onClosed: (c: ClientConn) => void;

  constructor(socket: Socket, ctx: ProxyContext, onClosed: (c: ClientConn) => void) {
    this.socket = socket;
    this.ctx = ctx;
    this.ip = clientAddress(socket.remoteAddress);
    this.peer = ctx.hops.isPeerAddress(this.ip);
    this.upstreamHeads = new UpstreamHeads({ clientIp: this.ip, hostDefault: ctx.hostDefault, cache: this.forwarding });
    this.lastActivityMs = ctx.clock.monoMs();
    this.#headStartMs = this.lastActivityMs;
    this.#onClosed = onClosed;
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => this.#onEnd());
    socket.on("drain", () => {
      // A closing client that still takes bytes is making progress: its linger deadline moves.
      if (this.#closingSinceMs >= 0) this.#closingSinceMs = this.ctx.clock.monoMs();
      this.#ex?.onClientDrain();
    });
    socket.on("error", () => {});
    socket.on("close", () => this.#onClose());
  }

  /** No request in progress and nothing buffered: can be closed without loss. */
  get idle(): boolean {
    return this.#phase === P_HEAD && this.#ex === null && this.#buf === null;
  }

  #onData(chunk: Buffer): void {
    this.lastActivityMs = this.ctx.clock.monoMs();
    this.#nowMs = this.lastActivityMs;
    if (this.#phase === P_TUNNEL) {
      this.#ex!.tunnelFromClient(chunk);
      return;
    }
    if (this.#phase === P_CLOSED) return;
    this.#silent = false;
    if (this.#phase === P_HEAD && this.#headStartMs < 0) this.#headStartMs = this.lastActivityMs;
    this.#buf = this.#grow.append(this.#buf, chunk);
    this.#process();
  }

  #process(): void {
    if (this.#inProcess) return;
    this.#inProcess = true;
    try {
      while (this.#buf !== null) {
        const phase = this.#phase;
        if (phase === P_HEAD) {
          if (!this.#readHead()) break;
        } else if (phase === P_BODY) {
          this.#feedBody();
          if (this.#phase === P_BODY) break;
        } else {
          if (phase === P_WAIT && this.#buf.length > pipelinedBytesMax && !this.#pausedForPipeline) {
            this.#pausedForPipeline = true;
            this.socket.pause();
          }
          break;
        }
      }
    } finally {
      this.#inProcess = false;
    }
  }

  /** Reads one request head from the buffer; false when it needs more bytes or refused it. */
  #readHead(): boolean {
    const buf = this.#buf!;
    let from = 0;
    if (buf[0] === 13) {
      const n = leadingEmptyLines(buf, 0);
      if (n > leadingEmptyLinesMax) return this.#reject(400, "too many empty lines before the request");
      from = 2 * n;
      if (from === buf.length) return false;
    }
    let end: number;
    let head: RequestHead;
    const known = this.#memo.match(buf, from);
    if (known > 0) {
      // The same bytes as the last head on this connection: the same head.
      end = from + known;
      head = this.#memo.head;
    } else {
      end = findHeadEnd(buf, from, this.#headScanned);
      if (end === -2) return this.#reject(400, "bare LF in the request head");
      if (end === -1) {
        if (buf.length - from > headBytesMax) return this.#reject(431, "request head too large");
        this.#headScanned = buf.length;
        return false;
      }
      if (end - from > headBytesMax) return this.#reject(431, "request head too large");
      const parsed = parseRequestHead(buf.toString("latin1", from, end));
      if (!parsed.ok) return this.#reject(parsed.status, parsed.reason);
      this.#memo.set(buf, from, end, parsed);
      head = parsed;
    }
    this.#headScanned = 0;
    this.#buf = end === buf.length ? null : buf.subarray(end);
    if (head.target.startsWith(adminPrefix)) {
      this.#admin(head);
      // The next head's timer starts now if its bytes are here, else at its first byte.
      this.#headStartMs = this.#buf === null ? -1 : this.lastActivityMs;
      return true;
    }
    this.#headStartMs = -1;
    if (!this.peer && !this.ctx.sourceLimits.allowRequest(this.ip, this.lastActivityMs)) {
      this.ctx.metrics.sourceLimited.inc("rate");
      return this.#reject(429, "this source sends more requests per second than its cap");
    }
    this.ctx.metrics.countRegion(this.ip);
    let ex = this.#spare;
    if (ex === null) {
      ex = new Exchange(this, head);
    } else {
      this.#spare = null;
      ex.reuse(head);
    }
    this.#ex = ex;
    this.#phase = ex.bodyKind === BODY_NONE ? P_WAIT : P_BODY;
    ex.start(this.#nowMs);
    return true;
  }

  #feedBody(): void {
    const ex = this.#ex!;
    const buf = this.#buf!;
    if (ex.bodyKind === BODY_LENGTH) {
      const n = Math.min(ex.bodyRemaining, buf.length);
      this.#buf = n === buf.length ? null : buf.subarray(n);
      ex.bodyRemaining -= n;
      ex.sendBody(n === buf.length ? buf : buf.subarray(0, n));
      if (ex.bodyRemaining === 0 && this.#phase === P_BODY) {
        this.#phase = P_WAIT;
        ex.bodyComplete(this.lastActivityMs);
      }
      return;
    }
    const r = ex.reqChunked!.feed(buf, 0, buf.length);
    if (r === -2) {
      const sent = ex.responseStarted;
      ex.abort();
      this.#ex = null;
      if (sent) this.destroy();
      else this.#reject(400, `bad chunked request body: ${ex.reqChunked!.error}`);
      return;
    }
    const stop = r === -1 ? buf.length : r;
    this.#buf = stop === buf.length ? null : buf.subarray(stop);
    const dec = ex.reqChunked!;
    const raw = dec.rawEnd(stop);
    ex.sendBody(raw === buf.length ? buf : buf.subarray(0, raw));
    const trailers = dec.filteredTrailers(stop);
    if (trailers !== undefined) ex.sendBody(Buffer.from(trailers, "latin1"));
    if (r >= 0 && this.#phase === P_BODY) {
      this.#phase = P_WAIT;
      ex.bodyComplete(this.lastActivityMs);
    }
  }

  #admin(head: RequestHead): void {
    const q = head.target.indexOf("?");
    const path = q < 0 ? head.target : head.target.slice(0, q);
    const r = this.ctx.admin(head.method, path);
    const hasBody = head.contentLength > 0 || head.chunked;
    const keep = head.keepAlive && !hasBody && !this.ctx.shuttingDown && !this.ended;
    this.socket.write(serializeResponse(r, { close: !keep, headOnly: head.method === "HEAD" }));
    if (!keep) this.#close();
  }

  /** Answers a request the gateway refuses to forward, and closes: the framing can no longer be trusted. */
  #reject(status: number, reason: string): false {
    const m = this.ctx.metrics;
    m.rejected.inc(String(status));
    m.countStatus(status);
    this.ctx.log.debug("request refused", { status, reason, client: this.ip });
    this.socket.write(
      serializeResponse(errorResponse(codeForStatus(status), reason), { close: true, headOnly: false }),
    );
    this.#close();
    return false;
  }

  /** The exchange in progress ended; keepOpen says whether another request may follow. */
  exchangeDone(keepOpen: boolean): void {
    const done = this.#ex;
    this.#ex = null;
    if (!keepOpen || this.#phase === P_BODY || this.ended || this.ctx.shuttingDown) {
      this.#close();
      return;
    }
    this.#phase = P_HEAD;
    this.#headScanned = 0;
    if (this.#buf === null) {
      this.#headStartMs = -1;
    } else {
      this.#nowMs = this.ctx.clock.monoMs();
      this.#headStartMs = this.#nowMs;
    }
    if (this.#pausedForPipeline) {
      this.#pausedForPipeline = false;
      if (!this.#pausedForUpstream) this.socket.resume();
    }
    if (this.#buf !== null && !this.#inProcess) this.#process();
    // Kept only now: `done` called this from its own methods, which must have returned before
    // a request takes it again — and a pipelined request the line above began did not.
    if (done?.reusable) this.#spare = done;
  }

  startTunnel(): void {
    this.#phase = P_TUNNEL;
    const pending = this.#buf;
    this.#buf = null;
    if (pending !== null) this.#ex!.tunnelFromClient(pending);
  }

  pauseReading(): void {
    if (!this.#pausedForUpstream) {
      this.#pausedForUpstream = true;
      this.socket.pause();
    }
  }

  resumeReading(): void {
    if (this.#pausedForUpstream) {
      this.#pausedForUpstream = false;
      if (!this.#pausedForPipeline) this.socket.resume();
    }
  }

  #onEnd(): void {
    this.ended = true;
    if (this.#phase === P_TUNNEL) {
      this.#ex?.onClientEnd();
    } else if (this.#phase === P_BODY) {
      // The body can never complete: nothing to answer, nothing to forward.
      this.#ex?.abort();
      this.#ex = null;
      this.destroy();
    } else if (this.#ex === null) {
      this.#close();
    }
  }

  #onClose(): void {
    this.closed = true;
    this.#phase = P_CLOSED;
    this.#buf = null;
    const ex = this.#ex;
    this.#ex = null;
    ex?.abort();
    this.#onClosed(this);
  }

  /** Ends the connection once what was written has been sent. */
  endAfterWrites(): void {
    this.#close();
  }

  #close(): void {
    if (this.#phase === P_CLOSED) return;
    this.#phase = P_CLOSED;
    this.#closingSinceMs = this.ctx.clock.monoMs();
    this.#buf = null;
    const socket = this.socket;
    socket.end(() => socket.destroy());
  }

  destroy(): void {
    this.#phase = P_CLOSED;
    this.socket.destroy();
  }

  /** Called by the timeout sweep. */
  sweep(nowMs: number): void {
    const tm = this.ctx.timeouts;
    const phase = this.#phase;
    if (phase === P_HEAD) {
      if (this.#headStartMs >= 0 && nowMs - this.#headStartMs > tm.headReadTimeoutMs) {
        this.ctx.metrics.closes.inc("head");
        if (this.#silent) this.#close();
        else this.#reject(408, "request head timeout");
      } else if (this.#headStartMs < 0 && this.#ex === null && nowMs - this.lastActivityMs > tm.clientIdleTimeoutMs) {
        this.ctx.metrics.closes.inc("idle");
        this.#close();
      }
      return;
    }
    if (phase === P_CLOSED) {
      // The gateway closed its side; a client that stopped reading must not hold the socket.
      if (!this.closed && this.#closingSinceMs >= 0 && nowMs - this.#closingSinceMs > tm.lingerTimeoutMs) {
        this.ctx.metrics.closes.inc("linger");
        this.socket.destroy();
      }
      return;
    }
    this.#ex?.checkDeadline(nowMs);
  }

  /** Closes the connection if it has nothing in progress (shutdown). */
  closeIfIdle(): void {
    if (this.idle) this.#close();
  }
}
