// Idle keep-alive connections to one target, most recently used first (a warm socket is
// least likely to have been closed by the app). Bounded; the oldest idle sockets are
// closed by the timeout sweep before the app's own keep-alive timeout could race us.
import { poolIdleSocketsPerTargetMax } from "./constants.ts";

export type Pooled = {
  destroy(): void;
  idleSinceMs: number;
  /** Still open both ways (the peer has not closed it while it sat idle). */
  readonly alive: boolean;
};

export class Pool<Conn extends Pooled = Pooled> {
  /** Oldest first; take() pops the newest. */
  readonly idle: Conn[] = [];

  /** The most recently idled live connection, if it went idle at or after `idleSinceMsMin`. */
  take(idleSinceMsMin = Number.NEGATIVE_INFINITY): Conn | undefined {
    for (;;) {
      const n = this.idle.length;
      if (n === 0) return undefined;
      const c = this.idle[n - 1];
      if (c.idleSinceMs < idleSinceMsMin) return undefined;
      this.idle.length = n - 1;
      // The peer may have closed it a moment ago, before its close event ran.
      if (c.alive) return c;
      c.destroy();
    }
  }

  /** Keeps a connection for reuse; false (and the caller destroys it) when the pool is full. */
  put(conn: Conn): boolean {
    if (this.idle.length >= poolIdleSocketsPerTargetMax) return false;
    this.idle.push(conn);
    return true;
  }

  /** Forgets an idle connection that closed on its own. */
  remove(conn: Conn): void {
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Closes idle connections that went idle before `idleSinceMsMin`. */
  expire(idleSinceMsMin: number): void {
    let k = 0;
    while (k < this.idle.length && this.idle[k].idleSinceMs < idleSinceMsMin) k++;
    if (k === 0) return;
    const old = this.idle.splice(0, k);
    for (const c of old) c.destroy();
  }

  closeIdle(): void {
    const all = this.idle.splice(0);
    for (const c of all) c.destroy();
  }
}
