// The server side of the binary client protocol (binary-protocol.ts): connections handed over
// by the HTTP server once their first byte says binary. Many requests in flight per
// connection; each is parsed and answered exactly as the HTTP API would (kv-dispatch.ts), and
// every reply finished in one turn of the event loop leaves in one write. Whatever bytes a
// client sends, the node answers with a typed error or closes the connection — never a crash.
import type { Socket } from "node:net";
import type { Logger, RedshirtError, Registry } from "../../core/index.ts";
import type { Planet } from "../../topology/index.ts";
import type { StoreApi } from "../api-types.ts";
import {
  binaryConnectionIdleMs,
  binaryFrameBytesMax,
  binaryInflightPerConnectionMax,
  binaryLogIntervalMs,
  binaryWriteBufferBytesMax,
} from "../constants.ts";
import { storeErrors } from "../errors.ts";
import { encodeFrame, FrameDecoder } from "../wire/framing.ts";
import { type BinaryReply, type BinaryRequest, binaryPreface, checkBinaryRequest } from "./binary-protocol.ts";
import { methodAllowed, parseTarget } from "./http-request.ts";
import { dispatchKv, type Reply } from "./kv-dispatch.ts";

export type BinaryApiInit = {
  readonly api: StoreApi;
  readonly planet: Planet;
  readonly secret: Buffer;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Admission shared with the HTTP side (stop flag, in-flight limit): throws a definite error to answer. */
  readonly admit: () => void;
  /** Called once for every request admit() let in, when it is answered. */
  readonly release: () => void;
  /** Turns an error into the status and body the HTTP API would answer (unexpected ones logged, answered 500). */
  readonly errorReply: (err: unknown, route: string) => Reply;
  /** Counts a connection's socket error (by code). */
  readonly connectionError: (code: string) => void;
};

export type BinaryApi = {
  /** Takes over a connection whose first bytes (`head`, at least one) start with NUL. */
  accept(socket: Socket, head: Buffer): void;
  /** Ends every connection once its requests are answered; cuts what is left after graceMs. */
  stop(graceMs: number): Promise<void>;
};

export function createBinaryApi(init: BinaryApiInit): BinaryApi {
  const { api, planet, secret, logger } = init;
  const requests = init.metrics.counter(
    "rs_store_binary_requests_total",
    "Requests answered over the binary client protocol, by method and status.",
  );
  const protocolErrors = init.metrics.counter(
    "rs_store_binary_protocol_errors_total",
    "Binary connections closed for a frame the node could not read, by reason.",
  );
  /** Each open connection and what ends it once its requests are answered. */
  const connections = new Map<Socket, () => void>();
  let stopping = false;
  let lastLogMs = Number.NEGATIVE_INFINITY;
  let unlogged = 0;

  function logRefusal(socket: Socket, reason: string, problem: string): void {
    protocolErrors.inc({ reason });
    const nowMs = performance.now();
    if (nowMs - lastLogMs < binaryLogIntervalMs) {
      unlogged++;
      return;
    }
    logger.warn("binary client connection closed: bad frame", {
      code: "RS_ERR_STORE_BAD_REQUEST",
      remote: socket.remoteAddress,
      reason,
      problem,
      notLoggedSinceLast: unlogged,
    });
    lastLogMs = nowMs;
    unlogged = 0;
  }

  function accept(socket: Socket, head: Buffer): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(binaryFrameBytesMax);
    let preface: Buffer | undefined = Buffer.alloc(0);
    let inflight = 0;
    let broken = false;
    let out: Buffer[] = [];
    let flushScheduled = false;
    /** Not reading the client while it does not read its replies. */
    let paused = false;

    const flush = () => {
      flushScheduled = false;
      if (out.length === 0 || socket.destroyed) return;
      const chunk = out.length === 1 ? out[0] : Buffer.concat(out);
      out = [];
      // A client that does not read its replies is not read from either: the buffer is bounded.
      if (!socket.write(chunk) && socket.writableLength > binaryWriteBufferBytesMax && !paused) {
        paused = true;
        socket.pause();
        socket.once("drain", () => {
          paused = false;
          socket.resume();
        });
      }
    };
    const send = (reply: BinaryReply) => {
      if (socket.destroyed || broken) return;
      out.push(encodeFrame(reply, binaryFrameBytesMax));
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    };
    const closeIfDone = () => {
      if ((stopping || broken) && inflight === 0) {
        flush();
        socket.end();
      }
    };
    /** The stream can no longer be trusted: say why (id 0) and close. */
    const refuse = (reason: string, problem: string) => {
      if (broken) return;
      logRefusal(socket, reason, problem);
      const err = storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `not a valid binary frame: ${problem}`);
      out.push(encodeFrame({ i: 0, s: 400, b: err.toJSON() }));
      flush();
      broken = true;
      socket.end();
      // A peer that does not read the refusal or close its end is cut.
      setTimeout(() => socket.destroy(), 1_000).unref();
    };

    const onFrame = (frame: unknown) => {
      if (broken) return;
      const checked = checkBinaryRequest(frame);
      if (!checked.ok) {
        if (checked.id === 0) return refuse("shape", checked.problem);
        const err = storeErrors.create("RS_ERR_STORE_BAD_REQUEST", checked.problem);
        send({ i: checked.id, s: 400, b: err.toJSON() });
        requests.inc({ method: "invalid", status: "400" });
        return;
      }
      void handle(checked.request);
    };

    async function handle(r: BinaryRequest): Promise<void> {
      inflight++;
      let reply: BinaryReply;
      let admitted = false;
      try {
        if (inflight > binaryInflightPerConnectionMax) {
          throw storeErrors.create(
            "RS_ERR_STORE_OVERLOADED",
            `over ${binaryInflightPerConnectionMax} requests in flight on one connection`,
          );
        }
        init.admit();
        admitted = true;
        // The same parsing as a path, so a key and an action are checked as the HTTP API checks them.
        const target = parseTarget(`/v1/kv/${encodeURIComponent(r.k)}${r.a === undefined ? "" : `/${r.a}`}`);
        if (target.route !== "kv" || !methodAllowed(r.m, target)) {
          throw storeErrors.create(
            "RS_ERR_STORE_BAD_REQUEST",
            `${r.m} does not take ${r.a === undefined ? "a key alone" : `the action ${r.a}`}`,
          );
        }
        const answer = await dispatchKv(
          api,
          { planet, secret },
          {
            method: r.m,
            key: target.key,
            action: target.action,
            body: r.b ?? "",
            query: emptyQuery,
            consistency: r.c,
            session: r.t,
            timeoutMs: r.ms === undefined ? undefined : String(r.ms),
            opId: r.o,
            ackOnly: r.ack,
          },
        );
        reply = { i: r.i, s: answer.reply.status, b: answer.reply.body as Record<string, unknown> };
        if (answer.token !== undefined) reply = { ...reply, t: answer.token };
        if (answer.opId !== undefined) reply = { ...reply, o: answer.opId };
      } catch (err) {
        const e = init.errorReply(err, `binary ${r.m}`);
        reply = { i: r.i, s: e.status, b: e.body as Record<string, unknown> };
      } finally {
        inflight--;
        if (admitted) init.release();
      }
      requests.inc({ method: r.m, status: String(reply.s) });
      send(reply);
      closeIfDone();
    }

    const onData = (chunk: Buffer) => {
      if (broken) return;
      let rest = chunk;
      if (preface !== undefined) {
        const have = Buffer.concat([preface, chunk]);
        if (have.length < binaryPreface.length) {
          if (!binaryPreface.subarray(0, have.length).equals(have)) return refuse("preface", "unknown preface");
          preface = have;
          return;
        }
        if (!have.subarray(0, binaryPreface.length).equals(binaryPreface)) {
          return refuse(
            "preface",
            `unknown preface or version ${have[4]} (this node speaks version ${binaryPreface[4]})`,
          );
        }
        preface = undefined;
        rest = have.subarray(binaryPreface.length);
        // The same preface back says "spoken here": a client that gets anything else (an
        // older node's HTTP 400) knows none of its requests was taken.
        socket.write(binaryPreface);
      }
      const failed: RedshirtError | undefined = decoder.push(rest, onFrame);
      if (failed) refuse("frame", failed.message);
    };

    connections.set(socket, closeIfDone);
    socket.on("data", onData);
    socket.setTimeout(binaryConnectionIdleMs, () => {
      if (inflight === 0) socket.destroy();
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      init.connectionError(err.code ?? "unknown");
      // A reset by the client is how connections end; anything else is worth a line.
      if (err.code !== "ECONNRESET" && err.code !== "EPIPE") {
        logger.warn("binary client connection error", { err: err.message, remote: socket.remoteAddress });
      }
    });
    socket.on("close", () => connections.delete(socket));
    onData(head);
    socket.resume();
  }

  return {
    accept,
    stop(graceMs) {
      stopping = true;
      const open = [...connections.keys()];
      if (open.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        let left = open.length;
        const timer = setTimeout(() => {
          for (const s of open) s.destroy();
        }, graceMs);
        for (const s of open) {
          s.once("close", () => {
            if (--left === 0) {
              clearTimeout(timer);
              resolve();
            }
          });
          // Idle ones end now; busy ones end when their last reply is out (closeIfDone).
          connections.get(s)?.();
        }
      });
    },
  };
}

const emptyQuery = new URLSearchParams();
