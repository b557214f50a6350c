// One request and its response. It picks a target (local instances, then other sites'
// gateways nearest first), sends the rewritten head and streams the body, keeps a bounded
// copy of the body for a retry, reads the response head strictly, decides the framing
// (Content-Length, chunked, close), forwards the body bytes unchanged, and gives the
// upstream connection back to its pool when both messages ended cleanly. A failed try
// moves to another target only when retry.ts allows it and the budget has a token.
//
// When every live local instance is saturated (instanceRequestsMax in flight), the request
// waits in the shortest instance queue (bounded; HAProxy's maxqueue and `timeout queue`)
// and, when they are full or the wait runs out, is answered 503 with Retry-After. It is not
// sent to another site: an overloaded site is still a site, and pouring its excess onto the
// next one only overloads that one too. Other sites get requests only when no local
// instance is alive.
//
// One Exchange serves its client connection's requests one after another: once done it is
// the connection's spare, and #begin sets it up for the next request (client.ts).
import { assert } from "../../core/index.ts";
import type { ServiceSettings } from "../../topology/index.ts";
import { type FailureKind, neverSent, type Target, type Waiter } from "./balancer.ts";
import { ChunkedDecoder } from "./chunked.ts";
import type { ClientConn } from "./client.ts";
import {
  errorHeader,
  headBytesMax,
  interimResponsesMax,
  poolReuseUnsafeIdleMsMax,
  retryBodyBytesMax,
} from "./constants.ts";
import type { ProxyContext } from "./context.ts";
import { GrowBuffer } from "./grow-buffer.ts";
import { findHeadEnd, parseResponseHead, type RequestHead, type ResponseHead } from "./http-head.ts";
import { JoinBuffer } from "./join-buffer.ts";
import { codeForStatus, errorResponse, type LocalResponse, serializeResponse } from "./responses.ts";
import { isIdempotent, isSafeMethod, mayCrossSite, mayRetry } from "./retry.ts";
import { clientResponseHead, responseRewrite } from "./rewrite.ts";
import { UpstreamConn, type UpstreamOwner } from "./upstream.ts";
import { withHopLine } from "./upstream-head.ts";

/** The error code of a response another site's gateway answered itself, if it did. */
function peerErrorCode(r: ResponseHead): string | undefined {
  for (const f of r.fields) if (f.lc === errorHeader) return f.value;
  return undefined;
}

export const BODY_NONE = 0;
export const BODY_LENGTH = 1;
export const BODY_CHUNKED = 2;

// Where the response is.
const R_HEAD = 0;
const R_BODY = 1;
const R_TUNNEL = 2;
const R_DONE = 3;

// How the response body is framed.
const K_NONE = 0;
const K_LENGTH = 1;
const K_CHUNKED = 2;
const K_CLOSE = 3;

function uncork(socket: UpstreamConn["socket"]): void {
  socket.uncork();
}

/** A slot on `t` came free: the oldest waiter takes it (run after the freeing code, so its socket is pooled first). */
function admitNext(t: Target<UpstreamConn>, requestsMax: number): void {
  while (t.queue.length > 0 && t.outstanding < requestsMax) t.queue.shift()!.resume(t);
}

/**
 * admitNext once the freeing code is done. A function of its own: a closure made in the
 * caller would cost that caller a context object on every call, queue or not.
 */
function admitSoon(t: Target<UpstreamConn>, requestsMax: number): void {
  queueMicrotask(() => admitNext(t, requestsMax));
}

/** Whether one of the protocols a client asked to upgrade to is the one the app answered with. */
function upgradeMatches(asked: string, answered: string | undefined): boolean {
  if (answered === undefined) return false;
  const a = answered.trim().toLowerCase();
  return asked.split(",").some((p) => p.trim().toLowerCase() === a);
}

/** The retry copy of a request without a body: nothing is ever added (frozen, so a push would throw). */
const noBodyCopy: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/** Reused by every dispatch (one thread, used synchronously): "a live instance exists but every queue is full". */
const busyScratch = { busy: false };

export class Exchange implements UpstreamOwner, Waiter {
  readonly client: ClientConn;
  readonly ctx: ProxyContext;
  // Per request: every field from here on is set again by #begin, for a new exchange and for
  // one its connection takes again (reuse). The initial values only give V8 the fields' kinds.
  head!: RequestHead;
  /** The site of the peer gateway that forwarded this (an authenticated RS-Hop), if one did. */
  hopSite: string | undefined = undefined;
  service!: ServiceSettings;
  safe = false;
  idempotent = false;
  bodyKind = BODY_NONE;
  bodyRemaining = 0;
  reqChunked: ChunkedDecoder | null = null;
  bodyDone = true;
  bodyDoneMs = 0;
  /** The body sent so far, for a retry; null once it outgrew retryBodyBytesMax. */
  #copy: Buffer[] | null = noBodyCopy;
  #copyBytes = 0;
  /** The upstream head (the connection's shared bytes, upstream-head.ts): every try sends the same, id included. */
  #headBytes: Buffer | null = null;
  /** The targets whose try failed; made at the first failure (most requests have none). */
  #tried: Target<UpstreamConn>[] | undefined = undefined;
  #attempts = 0;
  #lastFailure: FailureKind | undefined = undefined;
  /** Some try may have reached an app (it failed after a byte was written). */
  #maybeRan = false;
  /** The target whose queue this waits in, if it waits. */
  #queuedOn: Target<UpstreamConn> | null = null;
  queuedAtMs = 0;
  /** Body bytes that arrived while queued once they outgrew the retry copy (reads pause meanwhile). */
  #held: Buffer[] | null = null;
  #respScanned = 0;
  #up: UpstreamConn | null = null;
  #target: Target<UpstreamConn> | null = null;
  /** This exchange counts in its target's outstanding requests. */
  #holding = false;
  #tryStartMs = 0;
  #resp = R_HEAD;
  #respBuf: Buffer | null = null;
  #interim = 0;
  #respKind = K_NONE;
  #respRemaining = 0;
  #respChunked: ChunkedDecoder | null = null;
  #dechunk = false;
  #upstreamReusable = false;
  #clientKeepAlive = false;
  responseStarted = false;
  finished = false;
  #lastActivityMs = 0;
  // Kept across requests (they hold nothing of one request that another could see).
  /** Made only when a response head spans reads (rare); it never overwrites bytes it handed out. */
  #grow: GrowBuffer | null = null;
  /** Made for the rare response that goes to an HTTP/1.0 client without its chunked framing. */
  #dechunkSink: ((buf: Buffer, start: number, end: number) => void) | null = null;

  constructor(client: ClientConn, head: RequestHead) {
    this.client = client;
    this.ctx = client.ctx;
    this.#begin(head);
  }

  /**
   * Whether the connection may take this exchange again for its next request: it is done and
   * nothing outside it points to it any more (no upstream connection, queue or target slot).
   */
  get reusable(): boolean {
    return this.finished && this.#up === null && this.#queuedOn === null && !this.#holding;
  }

  /** Takes a done exchange (reusable) for the next request on the same connection: one object per connection, not per request. */
  reuse(head: RequestHead): void {
    assert(this.reusable, "an exchange is reused only once nothing points to it");
    this.#begin(head);
  }

  #begin(head: RequestHead): void {
    const client = this.client;
    this.head = head;
    let hopSite: string | undefined;
    if (head.hop !== undefined) {
      hopSite = client.peer ? this.ctx.hops.verify(client.ip, head.hop) : undefined;
      // A client's RS-Hop changes nothing: failover stays on and its forwarding fields are replaced.
      if (hopSite === undefined) this.ctx.metrics.untrustedHops.inc(client.peer ? "bad-stamp" : "not-a-peer");
    }
    this.hopSite = hopSite;
    this.service = this.ctx.serviceOf(head.host);
    this.safe = isSafeMethod(head.method);
    this.idempotent = isIdempotent(head.method, head.idempotencyKey && this.service.idempotencyKeyRetries);
    if (head.chunked) {
      this.bodyKind = BODY_CHUNKED;
      this.reqChunked = new ChunkedDecoder();
      this.bodyRemaining = 0;
    } else {
      this.bodyKind = head.contentLength > 0 ? BODY_LENGTH : BODY_NONE;
      this.reqChunked = null;
      this.bodyRemaining = Math.max(head.contentLength, 0);
    }
    this.bodyDone = this.bodyKind === BODY_NONE;
    this.bodyDoneMs = this.bodyDone ? client.lastActivityMs : 0;
    this.#copy = this.bodyDone ? noBodyCopy : [];
    this.#copyBytes = 0;
    this.#headBytes = null;
    this.#tried = undefined;
    this.#attempts = 0;
    this.#lastFailure = undefined;
    this.#maybeRan = false;
    this.#queuedOn = null;
    this.queuedAtMs = 0;
    this.#held = null;
    this.#respScanned = 0;
    this.#up = null;
    this.#target = null;
    this.#holding = false;
    this.#tryStartMs = 0;
    this.#resp = R_HEAD;
    this.#respBuf = null;
    this.#interim = 0;
    this.#respKind = K_NONE;
    this.#respRemaining = 0;
    this.#respChunked = null;
    this.#dechunk = false;
    this.#upstreamReusable = false;
    this.#clientKeepAlive = false;
    this.responseStarted = false;
    this.finished = false;
    this.#lastActivityMs = 0;
  }

  /** `nowMs`: the clock as the caller read it this turn (a read of the request's bytes). */
  start(nowMs: number): void {
    this.ctx.budget.onRequest();
    this.#dispatch(nowMs);
  }

  // --- Request side. ---

  /**
   * Sends the next try: to a local instance that has a free slot; else into the queue of a
   * saturated one (503 + Retry-After when every queue is full); only when no local instance
   * is alive, to another site's gateway — never for a request a peer forwarded (no loops),
   * and for a request an app may already have run only when the retry may cross sites.
   */
  #dispatch(nowMs: number): void {
    const ctx = this.ctx;
    const local = ctx.local.pick(this.#tried, nowMs);
    if (local !== undefined) {
      this.#sendTo(local, nowMs);
      return;
    }
    const queue = ctx.local.pickQueue(ctx.pendingPerInstanceMax, this.#tried, busyScratch);
    if (queue !== undefined) {
      this.#queuedOn = queue;
      this.queuedAtMs = nowMs;
      queue.queue.push(this);
      ctx.metrics.queued.inc(ctx.site);
      return;
    }
    if (busyScratch.busy) {
      ctx.metrics.shed.inc("queue-full");
      this.respondLocal(errorResponse("RS_ERR_TRAFFIC_GATEWAY_OVERLOADED"));
      return;
    }
    if (this.hopSite === undefined) {
      if (
        mayCrossSite({
          maybeRan: this.#maybeRan,
          safe: this.safe,
          appDedupsThroughStore: this.service.appDedupsThroughStore,
        })
      ) {
        for (const site of ctx.remote) {
          const t = site.pick(this.#tried, nowMs);
          if (t !== undefined) {
            this.#sendTo(t, nowMs);
            return;
          }
        }
      } else {
        ctx.metrics.retriesDenied.inc("cross-site");
      }
    }
    this.#respondFailure();
  }

  /** A slot on the target this waited for came free. */
  resume(target: Target): void {
    this.#queuedOn = null;
    if (this.finished) return;
    this.#sendTo(target as Target<UpstreamConn>, this.ctx.clock.monoMs());
  }

  #unqueue(): void {
    const q = this.#queuedOn;
    if (q === null) return;
    this.#queuedOn = null;
    const i = q.queue.indexOf(this);
    if (i >= 0) q.queue.splice(i, 1);
  }

  #sendTo(t: Target<UpstreamConn>, nowMs: number): void {
    const ctx = this.ctx;
    this.#attempts++;
    t.outstanding++;
    this.#holding = true;
    this.#target = t;
    if (t.kind === "gateway") ctx.metrics.crossSite.inc(t.site);
    // An unsafe request takes only a recently used socket: less chance the app is closing it.
    let up = t.pool.take(this.idempotent ? Number.NEGATIVE_INFINITY : nowMs - poolReuseUnsafeIdleMsMax);
    if (up !== undefined) up.uses++;
    else up = new UpstreamConn(t, ctx.sourceAddress);
    up.owner = this;
    this.#up = up;
    this.#tryStartMs = nowMs;
    this.#resp = R_HEAD;
    this.#respBuf = null;
    this.#respScanned = 0;
    this.#interim = 0;
    const heads = this.client.upstreamHeads;
    this.#headBytes ??= heads.next(this.head, this.hopSite !== undefined);
    const head = t.kind === "gateway" ? withHopLine(this.#headBytes, ctx.hops.stamp()) : this.#headBytes;
    const s = up.socket;
    if (this.bodyKind === BODY_NONE) {
      s.write(head);
      // Not all of it went out at once (or the socket is still connecting): the socket holds the bytes.
      if (s.writableLength > 0) heads.lend(head);
      return;
    }
    // Head and body bytes leave in one writev at the end of this tick.
    s.cork();
    s.write(head);
    heads.lend(head);
    const held = this.#copy ?? this.#held;
    if (held !== null) for (const b of held) s.write(b);
    process.nextTick(uncork, s);
    if (this.#held !== null) {
      this.#held = null;
      this.client.resumeReading();
    }
  }

  /** Request body bytes from the client, in order. */
  sendBody(slice: Buffer): void {
    if (slice.length === 0) return;
    const queued = this.#queuedOn !== null;
    if (this.#copy !== null) {
      if (this.#copyBytes + slice.length > retryBodyBytesMax) {
        // Waiting in a queue, nothing was sent yet: what the copy held must still go out.
        if (queued) this.#held = this.#copy;
        this.#copy = null;
      } else {
        this.#copy.push(slice);
        this.#copyBytes += slice.length;
      }
    }
    if (queued) {
      if (this.#held !== null) {
        this.#held.push(slice);
        this.client.pauseReading();
      }
      return;
    }
    const up = this.#up;
    if (up !== null && this.#resp !== R_DONE && !up.socket.write(slice)) this.client.pauseReading();
  }

  bodyComplete(nowMs: number): void {
    this.bodyDone = true;
    this.bodyDoneMs = nowMs;
  }

  // --- Upstream events. ---

  onUpstreamConnect(): void {}

  onUpstreamDrain(): void {
    this.client.resumeReading();
  }

  onClientDrain(): void {
    // The client took what was written: the response is moving, even with the upstream paused.
    this.#lastActivityMs = this.ctx.clock.monoMs();
    const up = this.#up;
    if (up?.socket.isPaused()) up.socket.resume();
  }

  onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    if (up !== this.#up) {
      up.detachAndDestroy();
      return;
    }
    switch (this.#resp) {
      case R_HEAD:
        this.#onResponseBytes(chunk);
        break;
      case R_BODY:
        this.#lastActivityMs = this.ctx.clock.monoMs();
        this.#forwardBody(chunk, 0);
        break;
      case R_TUNNEL:
        this.#lastActivityMs = this.ctx.clock.monoMs();
        if (!this.client.socket.write(chunk)) up.socket.pause();
        break;
      default:
        up.detachAndDestroy();
        return;
    }
    // The chunk lives in the connection's read buffer: a write the client socket did not
    // take at once still points into it, so the next read must go elsewhere.
    if (this.client.socket.writableLength > 0) up.lend();
  }

  onUpstreamEnd(up: UpstreamConn): void {
    if (up !== this.#up) return;
    if (this.#resp === R_BODY && this.#respKind === K_CLOSE) this.#finish();
    else if (this.#resp === R_TUNNEL) this.client.socket.end();
  }

  onUpstreamClose(up: UpstreamConn): void {
    if (up !== this.#up) return;
    this.#up = null;
    switch (this.#resp) {
      case R_HEAD:
        this.#tryFailed(up.failureKind());
        return;
      case R_BODY:
        if (this.#respKind === K_CLOSE) this.#finish();
        else this.#abortBoth();
        return;
      case R_TUNNEL:
        this.#releaseTarget();
        this.finished = true;
        this.#resp = R_DONE;
        this.client.endAfterWrites();
        return;
    }
  }

  // --- Response side. ---

  #onResponseBytes(chunk: Buffer): void {
    let buf = chunk;
    if (this.#respBuf !== null) {
      this.#grow ??= new GrowBuffer();
      buf = this.#grow.append(this.#respBuf, chunk);
    }
    const memo = this.#up!.headMemo;
    for (;;) {
      let end = memo.match(buf, 0);
      let r: ResponseHead;
      if (end > 0) {
        // The same bytes as the last response head on this connection: the same head.
        r = memo.head;
      } else {
        end = findHeadEnd(buf, 0, this.#respScanned);
        if (end === -1) {
          if (buf.length > headBytesMax) {
            this.#protocolFailure();
            return;
          }
          // A head that spans reads is kept in storage of its own (the chunk's buffer is reused).
          this.#grow ??= new GrowBuffer();
          this.#respBuf = buf.buffer === chunk.buffer ? this.#grow.copy(buf) : buf;
          this.#respScanned = buf.length;
          return;
        }
        if (end === -2 || end > headBytesMax) {
          this.#protocolFailure();
          return;
        }
        // An app's RS-* fields are dropped (the gateway's own, e.g. RS-Error, must not be forged).
        const parsed = parseResponseHead(buf.toString("latin1", 0, end), this.#target!.kind === "instance");
        if (!parsed.ok) {
          this.#protocolFailure();
          return;
        }
        memo.set(buf, 0, end, parsed);
        r = parsed;
      }
      this.#respScanned = 0;
      this.#respBuf = null;
      if (r.status >= 200) {
        this.#commit(r, buf, end);
        return;
      }
      if (r.status === 101) {
        // A switch to a protocol the client did not ask for would tunnel bytes neither side expects.
        if (this.head.upgrade === undefined || !this.bodyDone || !upgradeMatches(this.head.upgrade, r.upgrade)) {
          this.#protocolFailure();
          return;
        }
        this.#startTunnel(r, buf, end);
        return;
      }
      // Interim responses (100 Continue, 103 Early Hints) go on to an HTTP/1.1 client.
      if (++this.#interim > interimResponsesMax) {
        this.#protocolFailure();
        return;
      }
      if (this.head.minor === 1) {
        const out = clientResponseHead(r, responseRewrite(false, 1, false));
        this.client.socket.write(out ?? buf.subarray(0, end), "latin1");
      }
      if (end === buf.length) return;
      buf = buf.subarray(end);
    }
  }

  #commit(r: ResponseHead, buf: Buffer, end: number): void {
    const ctx = this.ctx;
    const t = this.#target!;
    if (t.kind === "gateway" && r.status >= 502 && r.status <= 504) {
      // The peer answered an error itself: with no capacity the request reached no app and
      // may go on to the next site; after an app failed there, only if it is idempotent.
      // An overloaded peer's 503 goes to the client as it is: the excess is not passed on again.
      const code = peerErrorCode(r);
      if (code !== undefined && code !== "RS_ERR_TRAFFIC_GATEWAY_OVERLOADED") {
        const up = this.#up;
        this.#up = null;
        up?.detachAndDestroy();
        this.#tryFailed(
          code === "RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND"
            ? "no-capacity"
            : code === "RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_TIMEOUT"
              ? "timeout"
              : "peer-error",
        );
        return;
      }
    }
    if (r.codedBeyondChunked && this.head.minor === 0 && this.head.method !== "HEAD") {
      // An HTTP/1.0 client cannot be told of codings beyond chunked (1.0 has no Transfer-Encoding).
      // The app did nothing wrong, so nothing is blamed or retried: the client gets a 502.
      this.respondLocal(
        errorResponse("RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_FAILED", "codings beyond chunked for an HTTP/1.0 client"),
      );
      return;
    }
    const nowMs = ctx.clock.monoMs();
    this.responseStarted = true;
    this.#lastActivityMs = nowMs;
    ctx.balancerOf(t).recordSuccess(t);
    (t.kind === "instance" ? ctx.metrics.upstreamLatency : ctx.metrics.crossSiteLatency).observe(
      nowMs - this.#tryStartMs,
    );
    ctx.metrics.countStatus(r.status);
    const status = r.status;
    let kind: number;
    if (this.head.method === "HEAD" || status === 204 || status === 304) kind = K_NONE;
    else if (r.chunked) kind = K_CHUNKED;
    else if (r.contentLength >= 0) kind = K_LENGTH;
    else kind = K_CLOSE;
    this.#respKind = kind;
    this.#respRemaining = kind === K_LENGTH ? r.contentLength : 0;
    this.#dechunk = kind === K_CHUNKED && this.head.minor === 0;
    if (kind === K_CHUNKED) this.#respChunked = new ChunkedDecoder();
    this.#upstreamReusable = r.keepAlive && kind !== K_CLOSE;
    // A client whose request body is still arriving is closed after the answer: the rest of
    // its body would otherwise be read as its next request.
    this.#clientKeepAlive =
      this.head.keepAlive &&
      kind !== K_CLOSE &&
      !this.#dechunk &&
      this.bodyDone &&
      !ctx.shuttingDown &&
      !this.client.ended;
    this.#resp = R_BODY;
    // The rewrite is a pure function of the head and the flags: the upstream connection keeps its bytes.
    const out = this.#up!.clientHead(r, responseRewrite(!this.#clientKeepAlive, this.head.minor, this.#dechunk));
    const rest = buf.length - end;
    const socket = this.client.socket;
    if (kind === K_LENGTH && rest <= this.#respRemaining) {
      // The common case: the body (or its start) in the same chunk as the head, one write —
      // the chunk itself when the head goes untouched, else the rewritten head joined to it.
      this.#respRemaining -= rest;
      if (out === undefined) {
        this.#toClient(buf);
      } else if (JoinBuffer.fits(out, rest)) {
        const join = this.client.joinBuffer;
        this.#toClient(join.join(out, buf, end, buf.length));
        if (socket.writableLength > 0) join.lend();
      } else {
        socket.cork();
        socket.write(out);
        if (rest > 0) this.#toClient(buf.subarray(end));
        socket.uncork();
      }
      if (this.#respRemaining === 0) this.#finish();
      return;
    }
    socket.cork();
    if (out === undefined) this.#toClient(buf.subarray(0, end));
    else socket.write(out);
    if (kind === K_NONE) {
      if (rest > 0) this.#upstreamReusable = false;
      socket.uncork();
      this.#finish();
      return;
    }
    if (kind === K_LENGTH && this.#respRemaining === 0) {
      if (rest > 0) this.#upstreamReusable = false;
      socket.uncork();
      this.#finish();
      return;
    }
    if (rest > 0) this.#forwardBody(buf, end);
    socket.uncork();
  }

  #forwardBody(buf: Buffer, start: number): void {
    const len = buf.length;
    switch (this.#respKind) {
      case K_LENGTH: {
        const n = Math.min(this.#respRemaining, len - start);
        if (n > 0) this.#toClient(start === 0 && n === len ? buf : buf.subarray(start, start + n));
        this.#respRemaining -= n;
        if (start + n < len) this.#upstreamReusable = false;
        if (this.#respRemaining === 0) this.#finish();
        return;
      }
      case K_CHUNKED: {
        const r = this.#respChunked!.feed(buf, start, len, this.#dechunk ? this.#dechunkData() : undefined);
        if (r === -2) {
          this.ctx.log.warn("bad chunked response body", { target: this.#target?.id, why: this.#respChunked!.error });
          this.#abortBoth();
          return;
        }
        const stop = r === -1 ? len : r;
        if (!this.#dechunk) {
          // Trailers go out filtered: hop-by-hop and RS-* names never pass.
          const dec = this.#respChunked!;
          const raw = dec.rawEnd(stop);
          if (raw > start) this.#toClient(start === 0 && raw === len ? buf : buf.subarray(start, raw));
          const trailers = dec.filteredTrailers(stop);
          if (trailers !== undefined) this.#toClient(Buffer.from(trailers, "latin1"));
        }
        if (r >= 0) {
          if (r < len) this.#upstreamReusable = false;
          this.#finish();
        }
        return;
      }
      case K_CLOSE:
        if (start < len) this.#toClient(start === 0 ? buf : buf.subarray(start));
        return;
      default:
        if (start < len) this.#upstreamReusable = false;
    }
  }

  #dechunkData(): (buf: Buffer, start: number, end: number) => void {
    this.#dechunkSink ??= (buf, start, end) => {
      if (end > start) this.#toClient(buf.subarray(start, end));
    };
    return this.#dechunkSink;
  }

  #toClient(data: Buffer): void {
    if (!this.client.socket.write(data)) this.#up?.socket.pause();
  }

  #startTunnel(r: ResponseHead, buf: Buffer, end: number): void {
    const ctx = this.ctx;
    const t = this.#target!;
    this.responseStarted = true;
    this.#lastActivityMs = ctx.clock.monoMs();
    ctx.balancerOf(t).recordSuccess(t);
    ctx.metrics.countStatus(101);
    this.#resp = R_TUNNEL;
    const out = clientResponseHead(r, responseRewrite(false, 1, false));
    const socket = this.client.socket;
    socket.write(out ?? buf.subarray(0, end), "latin1");
    if (end < buf.length) socket.write(buf.subarray(end));
    this.client.startTunnel();
  }

  /** Bytes from the client after a 101: straight to the app. */
  tunnelFromClient(chunk: Buffer): void {
    this.#lastActivityMs = this.ctx.clock.monoMs();
    const up = this.#up;
    if (up !== null && !up.socket.write(chunk)) this.client.pauseReading();
  }

  onClientEnd(): void {
    if (this.#resp === R_TUNNEL) this.#up?.socket.end();
  }

  #finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.#resp = R_DONE;
    this.#releaseUpstream(this.#upstreamReusable && this.bodyDone);
    this.client.exchangeDone(this.#clientKeepAlive);
  }

  #releaseTarget(): void {
    if (this.#holding) {
      const t = this.#target!;
      t.outstanding--;
      this.#holding = false;
      if (t.queue.length > 0) admitSoon(t, this.ctx.local.requestsMax);
    }
  }

  #releaseUpstream(reusable: boolean): void {
    this.#releaseTarget();
    const up = this.#up;
    this.#up = null;
    if (up === null) return;
    up.owner = null;
    const t = up.target;
    if (reusable && !up.closed && !t.removed && !t.draining) {
      // Just read for the response's last bytes.
      up.idleSinceMs = this.responseStarted ? this.#lastActivityMs : this.ctx.clock.monoMs();
      if (up.socket.isPaused()) up.socket.resume();
      if (t.pool.put(up)) return;
    }
    up.destroy();
  }

  // --- Failures, retries, deadlines. ---

  #protocolFailure(): void {
    const up = this.#up;
    this.#up = null;
    up?.detachAndDestroy();
    this.#tryFailed("protocol");
  }

  #tryFailed(kind: FailureKind): void {
    const ctx = this.ctx;
    const t = this.#target!;
    // The next try goes elsewhere (dispatch runs only between tries, so failed ones are all it must avoid).
    if (this.#tried === undefined) this.#tried = [t];
    else this.#tried.push(t);
    this.#releaseTarget();
    const up = this.#up;
    this.#up = null;
    up?.detachAndDestroy();
    ctx.metrics.countFailure(kind);
    ctx.balancerOf(t).recordFailure(t, kind);
    this.#lastFailure = kind;
    if (!neverSent(kind)) this.#maybeRan = true;
    if (this.client.closed) {
      this.finished = true;
      this.#resp = R_DONE;
      return;
    }
    const nowMs = ctx.clock.monoMs();
    const overdue = this.bodyDone && nowMs - this.bodyDoneMs > ctx.timeouts.requestTimeoutMs;
    const allowed = mayRetry({
      kind,
      idempotent: this.idempotent,
      safe: this.safe,
      bodyHeld: this.#copy !== null,
      attempts: this.#attempts,
      responseStarted: false,
    });
    if (!allowed || overdue) {
      ctx.metrics.retriesDenied.inc(
        overdue
          ? "deadline"
          : this.#copy === null
            ? "body"
            : kind === "timeout" && this.idempotent && !this.safe
              ? "may-still-run"
              : neverSent(kind) || this.idempotent
                ? "tries"
                : "unsafe",
      );
      this.#respondFailure();
      return;
    }
    if (!ctx.budget.tryWithdraw()) {
      ctx.metrics.retriesDenied.inc("budget");
      this.#respondFailure();
      return;
    }
    ctx.metrics.retries.inc(kind);
    this.#dispatch(nowMs);
  }

  #respondFailure(): void {
    const k = this.#lastFailure;
    const status = k === undefined || neverSent(k) ? 503 : k === "timeout" ? 504 : 502;
    this.respondLocal(errorResponse(codeForStatus(status)));
  }

  /** Answers the client from the gateway itself and ends this exchange. */
  respondLocal(r: LocalResponse): void {
    if (this.finished) return;
    this.#unqueue();
    this.finished = true;
    this.#resp = R_DONE;
    this.#releaseUpstream(false);
    const keep = this.head.keepAlive && this.bodyDone && !this.ctx.shuttingDown && !this.client.ended;
    this.ctx.metrics.countStatus(r.status);
    this.client.socket.write(serializeResponse(r, { close: !keep, headOnly: this.head.method === "HEAD" }));
    this.client.exchangeDone(keep);
  }

  /** The client went away: drop the try without blaming the target. */
  abort(): void {
    if (this.finished) return;
    this.#unqueue();
    this.finished = true;
    this.#resp = R_DONE;
    this.#releaseUpstream(false);
  }

  #abortBoth(): void {
    this.abort();
    this.client.destroy();
  }

  /** Called by the timeout sweep. */
  checkDeadline(nowMs: number): void {
    if (this.finished) return;
    const tm = this.ctx.timeouts;
    const q = this.#queuedOn;
    if (q !== null) {
      if (nowMs - this.queuedAtMs > tm.queueTimeoutMs) {
        this.ctx.metrics.shed.inc("queue-timeout");
        this.respondLocal(errorResponse("RS_ERR_TRAFFIC_GATEWAY_OVERLOADED"));
      } else if (!this.ctx.local.live(q) || this.ctx.local.ejected(q, nowMs)) {
        // The instance it waited for went away: choose again.
        this.#unqueue();
        this.#dispatch(nowMs);
      }
      return;
    }
    const clientIdleMs = nowMs - this.client.lastActivityMs;
    if (this.#resp === R_TUNNEL) {
      if (nowMs - this.#lastActivityMs > tm.tunnelIdleTimeoutMs && clientIdleMs > tm.tunnelIdleTimeoutMs) {
        this.#abortBoth();
      }
      return;
    }
    if (this.responseStarted) {
      if (nowMs - this.#lastActivityMs > tm.streamIdleTimeoutMs && clientIdleMs > tm.streamIdleTimeoutMs) {
        this.#abortBoth();
      }
      return;
    }
    const up = this.#up;
    if (up === null) return;
    if (!up.connected) {
      if (nowMs - this.#tryStartMs > tm.connectTimeoutMs) {
        this.#up = null;
        up.detachAndDestroy();
        this.#tryFailed("connect-timeout");
      }
      return;
    }
    if (!this.bodyDone) {
      // The client stalls mid-body: nothing to retry, nothing to answer.
      if (clientIdleMs > tm.streamIdleTimeoutMs) this.#abortBoth();
      return;
    }
    if (nowMs - this.bodyDoneMs > tm.requestTimeoutMs) {
      this.#up = null;
      up.detachAndDestroy();
      this.#releaseTarget();
      this.ctx.metrics.countFailure("timeout");
      this.respondLocal(errorResponse("RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_TIMEOUT"));
      return;
    }
    if (nowMs - Math.max(this.#tryStartMs, this.bodyDoneMs) > tm.perTryTimeoutMs) {
      this.#up = null;
      up.detachAndDestroy();
      this.#tryFailed("timeout");
    }
  }
}
