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

export type QueryHandler = (buf: Buffer, ctx: HandleContext) => Buffer | undefined;

export type ListenerOptions = {
  readonly host: string;
  /** 0 picks a free UDP port and listens on TCP with the same number. */
  readonly port: number;
  readonly handle: QueryHandler;
  readonly logger: Logger;
  readonly metrics: DnsMetrics;
};

const ignoreSendError = (): void => {};

export class DnsListeners implements Startable {
  readonly #o: ListenerOptions;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
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
    udp.on("message", (msg, rinfo) => {
      const out = handle(msg, { transport: "udp", sourceAddress: rinfo.address });
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
    this.#sockets.add(socket);
    metrics.tcpConnections.set(this.#sockets.size);
    const ctx: HandleContext = { transport: "tcp", sourceAddress: socket.remoteAddress ?? "" };
    let pending: Buffer | undefined;
    const close = (reason: string): void => {
      metrics.tcpClosed.inc({ reason });
      socket.destroy();
    };
    socket.setTimeout(tcpIdleTimeoutMs, () => close("idle"));
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
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
