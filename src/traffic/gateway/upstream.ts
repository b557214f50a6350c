// One upstream TCP connection to a target (an app instance or another site's gateway).
// Its listeners are attached once and route events to whichever exchange owns it now; an
// idle connection in the pool has no owner, and any byte or close it sees removes it.
import { connect, type Socket } from "node:net";
import type { FailureKind, Target } from "./balancer.ts";
import type { Pooled } from "./pool.ts";

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

  /** localAddress: the gateway's own address, so upstreams see which site's gateway calls them. */
  constructor(target: Target<UpstreamConn>, localAddress: string | undefined) {
    this.target = target;
    target.open++;
    this.socket = connect({ host: target.host, port: target.port, noDelay: true, localAddress });
    this.socket.on("connect", () => {
      this.connected = true;
      this.owner?.onUpstreamConnect(this);
    });
    this.socket.on("data", (chunk: Buffer) => {
      if (this.owner) this.owner.onUpstreamData(this, chunk);
      else this.destroy();
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
