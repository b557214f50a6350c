// One TCP connection across a link: the dialer's socket (accepted by the link proxy in the
// dialer's own block) and the upstream socket to the target, joined by two delay queues.
// The upstream leaves from the dialer's own address, so the target sees who really calls.
//
// The handshake costs what it costs on a real link: the dialer's connect() returns at once
// (the proxy is local), but its first bytes reach the target only one round trip plus one
// way later, as they would after SYN / SYN-ACK; the target's first bytes leave no earlier
// than its SYN arrived. A refused target resets the dialer's connection one round trip
// after it connected. While the link is cut a new connection is accepted and then hangs:
// nothing is dialed, nothing moves, until heal.
import { connect, type Socket } from "node:net";
import type { HostPort } from "../topology/index.ts";
import { DelayQueue, type QueueSink } from "./delay-queue.ts";
import type { LinkShaper } from "./shaper.ts";

/** What a connection needs from its link. */
export interface ConnectionContext {
  readonly id: string;
  readonly shaper: LinkShaper;
  delivered(direction: "forward" | "back", bytes: number): void;
  paused(): void;
  socketError(side: "client" | "upstream", err: NodeJS.ErrnoException): void;
  finished(conn: TcpConnection): void;
}

function socketSink(socket: () => Socket | undefined): QueueSink {
  return {
    write: (chunk) => {
      const s = socket();
      return !s || s.destroyed ? true : s.write(chunk);
    },
    end: () => {
      const s = socket();
      if (s && !s.destroyed) s.end();
    },
    reset: () => {
      const s = socket();
      if (s && !s.destroyed) s.resetAndDestroy();
    },
  };
}

export class TcpConnection {
  readonly #ctx: ConnectionContext;
  readonly #client: Socket;
  readonly #target: HostPort;
  readonly forward: DelayQueue;
  readonly back: DelayQueue;
  #upstream: Socket | undefined;
  #clientClosed = false;
  #upstreamClosed = false;
  #finished = false;

  constructor(ctx: ConnectionContext, client: Socket, target: HostPort) {
    this.#ctx = ctx;
    this.#client = client;
    this.#target = target;
    this.forward = new DelayQueue({
      shaper: ctx.shaper,
      direction: "forward",
      mode: "hold",
      onDelivered: (bytes) => ctx.delivered("forward", bytes),
      onPause: () => {
        ctx.paused();
        client.pause();
      },
      onResume: () => client.resume(),
    });
    this.back = new DelayQueue({
      shaper: ctx.shaper,
      direction: "back",
      mode: "hold",
      onDelivered: (bytes) => ctx.delivered("back", bytes),
      onPause: () => {
        ctx.paused();
        this.#upstream?.pause();
      },
      onResume: () => this.#upstream?.resume(),
    });
    client.setNoDelay(true);
    client.on("data", (chunk: Buffer) => this.forward.push(chunk));
    client.on("end", () => this.forward.pushEnd());
    client.on("drain", () => this.back.drained());
    client.on("error", (err: NodeJS.ErrnoException) => {
      ctx.socketError("client", err);
      this.forward.pushReset();
    });
    client.on("close", () => {
      this.#clientClosed = true;
      this.back.close();
      this.#maybeFinished();
    });
    this.back.attach(socketSink(() => this.#client));
    if (!ctx.shaper.settings.cut) this.#dial();
    client.resume();
  }

  /** Bytes this connection holds in both directions. */
  get queuedBytes(): number {
    return this.forward.bytes + this.back.bytes;
  }

  cut(): void {
    this.forward.cut();
    this.back.cut();
  }

  heal(): void {
    if (this.#finished) return;
    // A connection accepted during the cut makes its handshake now.
    if (!this.#upstream) this.#dial();
    this.forward.heal();
    this.back.heal();
  }

  destroy(): void {
    this.forward.close();
    this.back.close();
    this.#client.destroy();
    this.#upstream?.destroy();
  }

  #dial(): void {
    const shaper = this.#ctx.shaper;
    const t0Ms = shaper.clock.monoMs();
    this.forward.floorMs = t0Ms + 2 * shaper.delayMs;
    this.back.floorMs = t0Ms + shaper.delayMs;
    const up = connect({
      host: this.#target.host,
      port: this.#target.port,
      localAddress: this.#client.remoteAddress,
      noDelay: true,
      allowHalfOpen: true,
    });
    this.#upstream = up;
    up.on("data", (chunk: Buffer) => this.back.push(chunk));
    up.on("end", () => this.back.pushEnd());
    up.on("drain", () => this.forward.drained());
    up.on("error", (err: NodeJS.ErrnoException) => {
      this.#ctx.socketError("upstream", err);
      this.back.pushReset();
    });
    up.on("close", () => {
      this.#upstreamClosed = true;
      this.forward.close();
      this.#maybeFinished();
    });
    this.forward.attach(socketSink(() => this.#upstream));
  }

  #maybeFinished(): void {
    if (this.#finished || !this.#clientClosed || (this.#upstream && !this.#upstreamClosed)) return;
    this.#finished = true;
    this.forward.close();
    this.back.close();
    this.#ctx.finished(this);
  }
}
