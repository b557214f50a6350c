// The DNS server's sockets: UDP, and TCP with RFC 1035 4.2.2 / RFC 7766 framing (a 2-byte
// length before each message, several queries per connection, answered in order), an idle
// timeout, a bound on connections, and a bound on unread responses. A client that breaks
// the framing loses its connection; a bad message inside good framing gets a DNS error.
import dgram from "node:dgram";
import net from "node:net";
import type { Logger, Startable } from "../../core/index.ts";
import {
  queryBytesMax,
  tcpConnectionsMax,
  tcpIdleTimeoutMs,
  tcpUnsentBytesMax,
  udpReceiveBufferBytes,
} from "./constants.ts";
import { dnsErrors } from "./errors.ts";
import type { HandleContext } from "./message.ts";
import type { DnsMetrics } from "./metrics.ts";
import { type ResponseRateLimiter, slipOf } from "./rrl.ts";

export type QueryHandler = (buf: Buffer, ctx: HandleContext) => Buffer | undefined;

export type ListenerOptions = {
  readonly host: string;
  /** 0 picks a free UDP port and listens on TCP with the same number. */
  readonly port: number;
  readonly handle: QueryHandler;
  readonly logger: Logger;
  readonly metrics: DnsMetrics;
  /** Response-rate limiting of UDP answers per source prefix. */
  readonly rrl: ResponseRateLimiter;
  /** Monotonic ms (the RRL's clock). */
  readonly nowMs: () => number;
  /** Open TCP connections allowed per source address. */
  readonly tcpConnectionsPerSource: number;
};

const ignoreSendError = (): void => {};

export class DnsListeners implements Startable {
  readonly #o: ListenerOptions;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #perSource = new Map<string, number>();
  #port = 0;

  constructor(options: ListenerOptions) {
    this.#o = options;
  }

  get port(): number {
    return this.#port;
  }

  async start(): Promise<void> {
    if (this.#udp) return;
    const { host, handle } = this.#o;
    const udp = dgram.createSocket({ type: "udp4", recvBufferSize: udpReceiveBufferBytes });
    this.#udp = udp;
    const { rrl, nowMs, metrics } = this.#o;
    udp.on("message", (msg, rinfo) => {
      let out = handle(msg, { transport: "udp", sourceAddress: rinfo.address });
      if (out && rrl.enabled) {
        const verdict = rrl.check(rinfo.address, nowMs());
        if (verdict !== "send") {
          metrics.rrl.add(verdict);
          out = verdict === "slip" ? slipOf(out) : undefined;
        }
      }
      if (out) udp.send(out, rinfo.port, rinfo.address, ignoreSendError);
    });
    await new Promise<void>((resolve, reject) => {
      udp.once("error", (cause) =>
        reject(dnsErrors.create("RS_ERR_TRAFFIC_DNS_LISTEN", `udp ${host}:${this.#o.port}`, { cause })),
      );
      udp.bind(this.#o.port, host, () => resolve());
    });
    udp.on("error", (err) => this.#o.logger.warn("udp socket error", { err }));
    this.#port = udp.address().port;
    const tcp = net.createServer({ noDelay: true }, (socket) => this.#serve(socket));
    tcp.maxConnections = tcpConnectionsMax;
    tcp.on("drop", () => this.#o.metrics.tcpClosed.inc({ reason: "connections-max" }));
    this.#tcp = tcp;
    await new Promise<void>((resolve, reject) => {
      tcp.once("error", (cause) =>
        reject(dnsErrors.create("RS_ERR_TRAFFIC_DNS_LISTEN", `tcp ${host}:${this.#port}`, { cause })),
      );
      tcp.listen({ host, port: this.#port, backlog: tcpConnectionsMax }, () => resolve());
    });
    tcp.on("error", (err) => this.#o.logger.warn("tcp server error", { err }));
  }

  async stop(): Promise<void> {
    const udp = this.#udp;
    const tcp = this.#tcp;
    this.#udp = undefined;
    this.#tcp = undefined;
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    for (const s of this.#sockets) s.destroy();
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
  }

  #serve(socket: net.Socket): void {
    const { handle, metrics } = this.#o;
    const source = socket.remoteAddress ?? "";
    const open = this.#perSource.get(source) ?? 0;
    if (open >= this.#o.tcpConnectionsPerSource) {
      // One source must not hold the whole server's connections (the global cap is the
      // kernel's backlog and maxConnections; this is the share of one address).
      metrics.tcpClosed.inc({ reason: "per-source-max" });
      socket.destroy();
      return;
    }
    this.#perSource.set(source, open + 1);
    this.#sockets.add(socket);
    metrics.tcpConnections.set(this.#sockets.size);
    const ctx: HandleContext = { transport: "tcp", sourceAddress: source };
    let pending: Buffer | undefined;
    const close = (reason: string): void => {
      metrics.tcpClosed.inc({ reason });
      socket.destroy();
    };
    socket.setTimeout(tcpIdleTimeoutMs, () => close("idle"));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left > 0) this.#perSource.set(source, left);
      else this.#perSource.delete(source);
      this.#sockets.delete(socket);
      metrics.tcpConnections.set(this.#sockets.size);
    });
    socket.on("data", (chunk: Buffer) => {
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (length < 12 || length > queryBytesMax) return close("bad-length");
        if (pending.length < 2 + length) break;
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const out = handle(message, ctx);
        if (out) {
          const framed = Buffer.allocUnsafe(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          socket.write(framed);
          if (socket.writableLength > tcpUnsentBytesMax) return close("unread-responses");
        }
      }
      // What is left is less than one message: at most 2 + queryBytesMax bytes are held.
      if (pending.length === 0) pending = undefined;
    });
  }
}
