// UDP across a link (DNS): one listening socket per proxied endpoint, and per client
// (source address and port) a session with its own upstream socket bound to the client's
// address, so the target sees the real source and answers to the session. Each datagram is
// delayed like a TCP chunk, may be lost, and is dropped while the link is cut. Sessions are
// bounded and expire when idle.
import dgram from "node:dgram";
import type { Clock, TimerHandle } from "../core/index.ts";
import type { HostPort } from "../topology/index.ts";
import { udpSessionIdleMs, udpSessionsPerLinkMax, udpSweepIntervalMs } from "./constants.ts";
import { DelayQueue } from "./delay-queue.ts";
import { wanErrors } from "./errors.ts";
import type { LinkShaper } from "./shaper.ts";

export type DatagramResult = "delivered" | "lost" | "cut" | "queue-full" | "sessions-full";

export interface RelayContext {
  readonly id: string;
  readonly shaper: LinkShaper;
  datagram(direction: "forward" | "back", result: DatagramResult, bytes: number): void;
  socketError(side: "client" | "upstream", err: NodeJS.ErrnoException): void;
  /** UDP sessions open on the whole link (the bound is per link). */
  sessionsOnLink(): number;
}

type Session = { upstream: dgram.Socket; forward: DelayQueue; back: DelayQueue; lastMs: number };

export class UdpRelay {
  readonly #ctx: RelayContext;
  readonly #listen: HostPort;
  readonly #target: HostPort;
  readonly #sessions = new Map<string, Session>();
  #socket: dgram.Socket | undefined;
  #sweep: TimerHandle | undefined;

  constructor(ctx: RelayContext, listen: HostPort, target: HostPort) {
    this.#ctx = ctx;
    this.#listen = listen;
    this.#target = target;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  get #clock(): Clock {
    return this.#ctx.shaper.clock;
  }

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: "udp4" });
    this.#socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once("error", (cause) =>
        reject(wanErrors.create("RS_ERR_WAN_LISTEN", `udp ${this.#listen.host}:${this.#listen.port}`, { cause })),
      );
      socket.bind({ address: this.#listen.host, port: this.#listen.port }, () => {
        socket.removeAllListeners("error");
        socket.on("error", (err: NodeJS.ErrnoException) => this.#ctx.socketError("client", err));
        resolve();
      });
    });
    socket.on("message", (msg, rinfo) => this.#fromClient(msg, rinfo.address, rinfo.port));
    this.#armSweep();
  }

  cut(): void {
    for (const s of this.#sessions.values()) {
      s.forward.cut();
      s.back.cut();
    }
  }

  heal(): void {
    for (const s of this.#sessions.values()) {
      s.forward.heal();
      s.back.heal();
    }
  }

  async stop(): Promise<void> {
    this.#sweep?.cancel();
    for (const key of [...this.#sessions.keys()]) this.#close(key);
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
  }

  #fromClient(msg: Buffer, address: string, port: number): void {
    const shaper = this.#ctx.shaper;
    const dropped: DatagramResult | undefined = shaper.settings.cut ? "cut" : shaper.drops() ? "lost" : undefined;
    if (dropped) {
      this.#ctx.datagram("forward", dropped, msg.length);
      return;
    }
    const key = `${address}:${port}`;
    let s = this.#sessions.get(key);
    if (!s) {
      if (this.#ctx.sessionsOnLink() >= udpSessionsPerLinkMax) {
        this.#ctx.datagram("forward", "sessions-full", msg.length);
        return;
      }
      s = this.#open(key, address, port);
    }
    s.lastMs = this.#clock.monoMs();
    if (!s.forward.push(msg)) this.#ctx.datagram("forward", "queue-full", msg.length);
  }

  #open(key: string, address: string, port: number): Session {
    const upstream = dgram.createSocket({ type: "udp4" });
    const ctx = this.#ctx;
    const forward = new DelayQueue({
      shaper: ctx.shaper,
      direction: "forward",
      mode: "drop",
      onDelivered: (bytes) => ctx.datagram("forward", "delivered", bytes),
    });
    const back = new DelayQueue({
      shaper: ctx.shaper,
      direction: "back",
      mode: "drop",
      onDelivered: (bytes) => ctx.datagram("back", "delivered", bytes),
    });
    const session: Session = { upstream, forward, back, lastMs: this.#clock.monoMs() };
    this.#sessions.set(key, session);
    upstream.on("error", (err: NodeJS.ErrnoException) => ctx.socketError("upstream", err));
    upstream.on("message", (msg) => {
      session.lastMs = this.#clock.monoMs();
      const dropped: DatagramResult | undefined = ctx.shaper.settings.cut
        ? "cut"
        : ctx.shaper.drops()
          ? "lost"
          : undefined;
      if (dropped) ctx.datagram("back", dropped, msg.length);
      else if (!back.push(msg)) ctx.datagram("back", "queue-full", msg.length);
    });
    // Sends issued while the bind is pending are queued by node:dgram until it completes.
    upstream.bind({ address, port: 0 });
    const sent = (err: Error | null) => {
      if (err) ctx.socketError("upstream", err as NodeJS.ErrnoException);
    };
    forward.attach({
      write: (chunk) => {
        upstream.send(chunk, this.#target.port, this.#target.host, sent);
        return true;
      },
      end: () => {},
      reset: () => {},
    });
    back.attach({
      write: (chunk) => {
        this.#socket?.send(chunk, port, address, (err) => {
          if (err) ctx.socketError("client", err as NodeJS.ErrnoException);
        });
        return true;
      },
      end: () => {},
      reset: () => {},
    });
    return session;
  }

  #close(key: string): void {
    const s = this.#sessions.get(key);
    if (!s) return;
    this.#sessions.delete(key);
    s.forward.close();
    s.back.close();
    s.upstream.close();
  }

  #armSweep(): void {
    this.#sweep = this.#clock.setTimer(udpSweepIntervalMs, () => {
      const oldestMs = this.#clock.monoMs() - udpSessionIdleMs;
      for (const [key, s] of this.#sessions) if (s.lastMs < oldestMs && s.forward.length === 0) this.#close(key);
      if (this.#socket) this.#armSweep();
    });
  }
}
