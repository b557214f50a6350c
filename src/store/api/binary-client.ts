// One connection of the binary client protocol (binary-protocol.ts) to one store node: many
// requests in flight at once, matched to their replies by correlation id, and everything
// sent in one turn of the event loop written in one call. The store client (client.ts) keeps
// one per node and does the routing, failover and error typing on top.
//
// What a caller learns when no reply comes, which decides whether a write may have applied:
// a request that never left (the dial failed) is rejected with the dial's error code
// (ECONNREFUSED, ...: nothing was sent); one that was written and then lost its connection or
// its time is rejected with code `RS_BINARY_LOST` or a TimeoutError (it may have applied).
// A node that does not answer the preface with the preface (an older node, whose HTTP parser
// refuses the bytes with a 400 and takes nothing) fails every request with
// `RS_BINARY_UNSUPPORTED`: nothing was applied, and the caller may use HTTP instead.
import { connect, type Socket } from "node:net";
import { binaryClientIdleMs, binaryClientQueueMax, binaryFrameBytesMax, clientConnectTimeoutMs } from "../constants.ts";
import { encodeFrame, FrameDecoder } from "../wire/framing.ts";
import { type BinaryReply, type BinaryRequest, binaryIdMax, binaryPreface } from "./binary-protocol.ts";

type Waiter = {
  resolve(reply: BinaryReply): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
};

export type BinaryRequestBody = Omit<BinaryRequest, "i">;

/** An error with a code, as node's socket errors carry one. */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class BinaryConnection {
  readonly #host: string;
  readonly #port: number;
  #socket: Socket | undefined;
  #connected = false;
  #nextId = 1;
  readonly #waiting = new Map<number, Waiter>();
  /** Frames waiting for the dial to finish, or for this turn's write. */
  #out: Buffer[] = [];
  #flushScheduled = false;
  #closed = false;

  constructor(host: string, port: number) {
    this.#host = host;
    this.#port = port;
  }

  /** Requests sent and not answered yet. */
  get inflight(): number {
    return this.#waiting.size;
  }

  /** Sends one request; resolves with its reply. */
  request(body: BinaryRequestBody, timeoutMs: number): Promise<BinaryReply> {
    if (this.#closed) return Promise.reject(codedError("RS_BINARY_CLOSED", "the connection is closed"));
    if (this.#waiting.size >= binaryClientQueueMax) {
      // Refused before anything was sent: as definite as a refused dial.
      return Promise.reject(codedError("RS_BINARY_QUEUE_FULL", `${binaryClientQueueMax} requests already waiting`));
    }
    let frame: Buffer;
    const id = this.#takeId();
    try {
      frame = encodeFrame({ ...body, i: id }, binaryFrameBytesMax);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<BinaryReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(Object.assign(new Error(`no reply within ${timeoutMs} ms`), { name: "TimeoutError" }));
      }, timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer });
      this.#out.push(frame);
      if (!this.#socket) this.#dial();
      else if (this.#connected) this.#scheduleFlush();
    });
  }

  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#failAll(codedError("RS_BINARY_CLOSED", "the connection was closed by the client"));
  }

  #takeId(): number {
    // Ids wrap; one still waiting after 2^31 requests is skipped, never reused.
    let id = this.#nextId;
    while (this.#waiting.has(id)) id = id >= binaryIdMax ? 1 : id + 1;
    this.#nextId = id >= binaryIdMax ? 1 : id + 1;
    return id;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const socket = this.#socket;
      if (!socket || !this.#connected || this.#out.length === 0) return;
      const chunk = this.#out.length === 1 ? this.#out[0] : Buffer.concat(this.#out);
      this.#out = [];
      socket.write(chunk);
    });
  }

  #dial(): void {
    const decoder = new FrameDecoder(binaryFrameBytesMax);
    let preface: Buffer | undefined = Buffer.alloc(0);
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true, keepAlive: true });
    this.#socket = socket;
    this.#connected = false;
    const dialTimer = setTimeout(
      () => socket.destroy(codedError("UND_ERR_CONNECT_TIMEOUT", `no connection within ${clientConnectTimeoutMs} ms`)),
      clientConnectTimeoutMs,
    );
    socket.once("connect", () => {
      clearTimeout(dialTimer);
      this.#connected = true;
      // The preface goes first, in the same write as whatever queued during the dial.
      this.#out.unshift(binaryPreface);
      this.#scheduleFlush();
    });
    socket.on("data", (data: Buffer) => {
      let chunk = data;
      if (preface !== undefined) {
        const have = Buffer.concat([preface, chunk]);
        const n = Math.min(have.length, binaryPreface.length);
        if (!have.subarray(0, n).equals(binaryPreface.subarray(0, n))) {
          socket.destroy(codedError("RS_BINARY_UNSUPPORTED", "the node does not speak the binary protocol"));
          return;
        }
        if (have.length < binaryPreface.length) {
          preface = have;
          return;
        }
        preface = undefined;
        chunk = have.subarray(binaryPreface.length);
      }
      const failed = decoder.push(chunk, (frame) => this.#onReply(frame));
      if (failed) socket.destroy(codedError("RS_BINARY_LOST", `the node sent a broken frame: ${failed.message}`));
    });
    socket.on("error", () => undefined);
    socket.setTimeout(binaryClientIdleMs, () => {
      if (this.#waiting.size === 0) socket.destroy();
    });
    socket.once("close", () => {
      clearTimeout(dialTimer);
      const wasConnected = this.#connected;
      if (this.#socket === socket) {
        this.#socket = undefined;
        this.#connected = false;
      }
      this.#out = [];
      const cause = (socket as unknown as { errored?: Error }).errored;
      const code = (cause as NodeJS.ErrnoException | undefined)?.code;
      // Before the connection stood nothing left this host: keep the dial's own error code.
      // The same for a node that refused the protocol: it took none of the requests.
      this.#failAll(
        (wasConnected && code !== "RS_BINARY_UNSUPPORTED") || code === undefined
          ? codedError("RS_BINARY_LOST", `the connection to ${this.#host}:${this.#port} closed with requests in flight`)
          : codedError(code, cause?.message ?? code),
      );
    });
  }

  #onReply(frame: unknown): void {
    const r = frame as BinaryReply;
    if (typeof r !== "object" || r === null || typeof r.i !== "number" || typeof r.s !== "number") {
      this.#socket?.destroy(codedError("RS_BINARY_LOST", "the node sent a reply without an id or status"));
      return;
    }
    if (r.i === 0) {
      // The node refused the stream (it names why); the connection closes after it.
      this.#socket?.destroy(
        codedError("RS_BINARY_LOST", `the node refused the stream: ${JSON.stringify(r.b).slice(0, 300)}`),
      );
      return;
    }
    const w = this.#waiting.get(r.i);
    if (!w) return; // Timed out already: its late answer changes nothing.
    this.#waiting.delete(r.i);
    clearTimeout(w.timer);
    w.resolve(r);
  }

  #failAll(err: Error): void {
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) {
      clearTimeout(w.timer);
      w.reject(err);
    }
  }
}
