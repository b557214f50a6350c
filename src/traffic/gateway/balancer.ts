// Which target gets the next request: power-of-two-choices least-outstanding-requests over
// the targets that are eligible (healthy by active checks, not ejected by passive outlier
// detection, not draining or starting, not saturated), with slow start for targets that
// just came back. Ejection is capped by a panic mode (Envoy's): when more than a set share
// of the live targets is ejected for uncertain reasons (resets, timeouts — what overload
// looks like), ejection is ignored, so a saturated site keeps serving instead of ejecting
// itself empty. No I/O here: the clock and randomness are injected, so a test replays
// every decision.
import type { Clock, Random } from "../../core/index.ts";
import {
  ejectAfterFailures,
  ejectBaseMsDefault,
  ejectionForgetMs,
  ejectMaxMsDefault,
  healthFallDefault,
  healthRiseDefault,
  instanceRequestsMaxDefault,
  slowStartMsDefault,
  slowStartWeightMin,
} from "./constants.ts";
import type { Pool, Pooled } from "./pool.ts";

export type TargetKind = "instance" | "gateway";

/** Why a try failed; decides retries and ejection. */
export type FailureKind =
  | "connect-refused"
  | "connect-timeout"
  | "connect-error"
  | "reset"
  | "timeout"
  | "protocol"
  /** Another site's gateway answered that it has no capacity either (503 with RS-Error NO_BACKEND). */
  | "no-capacity"
  /** Another site's gateway answered 502 or 504 itself: an app there failed the request. */
  | "peer-error";

/**
 * Whether a failure counts toward passive ejection. A per-try timeout does not: it is what a
 * slow or saturated app looks like, and ejecting it would pour its load onto the others until
 * they time out too (the cascade that took sites down). A hung instance is still caught by
 * the active health checks, whose own timeout fails it. Connect failures, resets and protocol
 * errors say the instance itself is broken, so they count.
 */
export function countsTowardEjection(kind: FailureKind): boolean {
  return kind !== "timeout" && kind !== "peer-error";
}

/** A request waiting in a target's queue for a free slot. */
export interface Waiter {
  readonly queuedAtMs: number;
  /** The target has a free slot now: send there. */
  resume(target: Target): void;
}

/** The request reached no app: a connect failed (no byte written), or a peer gateway had no capacity. */
export function neverSent(kind: FailureKind): boolean {
  return kind === "connect-refused" || kind === "connect-timeout" || kind === "connect-error" || kind === "no-capacity";
}

export type TargetInfo = {
  readonly id: string;
  readonly site: string;
  readonly host: string;
  readonly port: number;
  readonly kind: TargetKind;
};

export class Target<Conn extends Pooled = Pooled> {
  readonly id: string;
  readonly site: string;
  readonly host: string;
  readonly port: number;
  readonly kind: TargetKind;
  /** Requests sent and not yet answered (or tunnels open). */
  outstanding = 0;
  /** Upstream connections open, idle or busy. */
  open = 0;
  /** Requests waiting for a free slot (bounded by the gateway's pendingPerInstanceMax), oldest first. */
  readonly queue: Waiter[] = [];
  readonly pool: Pool<Conn>;
  // Active health.
  /** No check has answered yet. */
  unknown = true;
  healthy = false;
  checkSuccesses = 0;
  checkFailures = 0;
  /** When the target last became healthy after being unhealthy (slow start); -Infinity = no ramp. */
  healthySinceMs = Number.NEGATIVE_INFINITY;
  // Passive outlier detection.
  consecutiveFailures = 0;
  ejectedUntilMs = 0;
  ejections = 0;
  lastEjectionMs = Number.NEGATIVE_INFINITY;
  /** The last ejection was certain (a refused connect, a peer without capacity): panic mode keeps it. */
  ejectedCertain = false;
  // Lifecycle.
  draining = false;
  drainReason: "lease" | "drain-set" | "manual" | undefined;
  /** Registered but not ready: checked, never picked. */
  starting = false;
  version: string | undefined;
  removed = false;
  /** Added after the gateway started: its first healthy check starts a slow-start ramp. */
  late = false;

  constructor(info: TargetInfo, pool: Pool<Conn>) {
    this.id = info.id;
    this.site = info.site;
    this.host = info.host;
    this.port = info.port;
    this.kind = info.kind;
    this.pool = pool;
  }
}

export type BalancerOptions = {
  readonly clock: Clock;
  readonly random: Random;
  readonly rise?: number;
  readonly fall?: number;
  readonly slowStartMs?: number;
  readonly ejectBaseMs?: number;
  readonly ejectMaxMs?: number;
  /** Panic when more than this share of the live targets is ejected for uncertain reasons; undefined: never. */
  readonly panicShare?: number;
  /** Requests in flight per target before it counts as saturated (default instanceRequestsMaxDefault). */
  readonly requestsMax?: number;
  /** Told when a target is ejected or its health changes, and when panic starts or ends (logs, metrics). */
  readonly onEvent?: (event: BalancerEvent) => void;
};

export type BalancerEvent =
  | { type: "ejected"; target: Target; kind: FailureKind; forMs: number }
  | { type: "health"; target: Target; healthy: boolean }
  | { type: "panic"; on: boolean; live: number; ejected: number };

export class Balancer<Conn extends Pooled = Pooled> {
  readonly targets: Target<Conn>[] = [];
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #rise: number;
  readonly #fall: number;
  readonly #slowStartMs: number;
  readonly #ejectBaseMs: number;
  readonly #ejectMaxMs: number;
  readonly #panicShare: number | undefined;
  readonly requestsMax: number;
  readonly #onEvent: ((event: BalancerEvent) => void) | undefined;
  /** Reused between picks so a pick allocates nothing. */
  #panic = false;
  /** Times panic mode was entered. */
  panics = 0;

  constructor(options: BalancerOptions) {
    this.#clock = options.clock;
    this.#random = options.random;
    this.#rise = options.rise ?? healthRiseDefault;
    this.#fall = options.fall ?? healthFallDefault;
    this.#slowStartMs = options.slowStartMs ?? slowStartMsDefault;
    this.#ejectBaseMs = options.ejectBaseMs ?? ejectBaseMsDefault;
    this.#ejectMaxMs = options.ejectMaxMs ?? ejectMaxMsDefault;
    this.#panicShare = options.panicShare;
    this.requestsMax = options.requestsMax ?? instanceRequestsMaxDefault;
    this.#onEvent = options.onEvent;
  }

  add(target: Target<Conn>): void {
    this.targets.push(target);
  }

  remove(target: Target<Conn>): void {
    target.removed = true;
    const i = this.targets.indexOf(target);
    if (i >= 0) this.targets.splice(i, 1);
    target.pool.closeIdle();
  }

  /** Alive and meant to serve: healthy by active checks, not draining, not starting. Ejection and saturation aside. */
  live(t: Target<Conn>): boolean {
    return t.healthy && !t.draining && !t.starting && !t.removed;
  }

  /** Ejected now (passive outlier detection), as the panic rule sees it. */
  ejected(t: Target<Conn>, nowMs: number): boolean {
    return nowMs < t.ejectedUntilMs && !(this.#panic && !t.ejectedCertain);
  }

  eligible(t: Target<Conn>, nowMs: number): boolean {
    return this.live(t) && !this.ejected(t, nowMs) && t.outstanding < this.requestsMax;
  }

  /** Has as many requests in flight as it may take; more wait in its queue. */
  saturated(t: Target<Conn>): boolean {
    return t.outstanding >= this.requestsMax;
  }

  /**
   * Live targets, saturated or ejected for uncertain reasons (resets: overload) or not: this
   * site can serve while there is one. One ejected for a refused connect is not: nothing
   * listens there.
   */
  liveCount(): number {
    const nowMs = this.#clock.monoMs();
    let n = 0;
    for (const t of this.targets) if (this.live(t) && !(t.ejectedCertain && nowMs < t.ejectedUntilMs)) n++;
    return n;
  }

  /**
   * Where a request waits when every eligible target is saturated: the live, not ejected,
   * saturated target (not in `exclude`) with the shortest queue that has room. `busy` is set
   * when some such target exists but every queue is full (answer 503, do not fail over).
   */
  pickQueue(
    pendingMax: number,
    exclude: readonly Target[] | undefined,
    out: { busy: boolean },
  ): Target<Conn> | undefined {
    const nowMs = this.#clock.monoMs();
    let best: Target<Conn> | undefined;
    out.busy = false;
    for (const t of this.targets) {
      if (!this.live(t) || this.ejected(t, nowMs) || exclude?.includes(t)) continue;
      out.busy = true;
      if (t.queue.length >= pendingMax) continue;
      if (best === undefined || t.queue.length < best.queue.length) best = t;
    }
    return best;
  }

  /** Whether panic mode is on now (ejection ignored); re-decided on every pick and on this call. */
  panic(): boolean {
    return this.#updatePanic(this.#clock.monoMs());
  }

  #updatePanic(nowMs: number): boolean {
    if (this.#panicShare === undefined) return false;
    // Only uncertain ejections count: a refused connect means nothing listens there, and
    // sending to it again would not serve anyone.
    let live = 0;
    let ejected = 0;
    for (const t of this.targets) {
      if (!this.live(t)) continue;
      const isEjected = nowMs < t.ejectedUntilMs;
      if (isEjected && t.ejectedCertain) continue;
      live++;
      if (isEjected) ejected++;
    }
    const on = live > 0 && ejected > live * this.#panicShare;
    if (on !== this.#panic) {
      this.#panic = on;
      if (on) this.panics++;
      this.#onEvent?.({ type: "panic", on, live, ejected });
    }
    return on;
  }

  /** Share of its full traffic a target takes now: ramps from slowStartWeightMin to 1. */
  weight(t: Target<Conn>, nowMs: number): number {
    const sinceMs = nowMs - t.healthySinceMs;
    if (this.#slowStartMs <= 0 || sinceMs >= this.#slowStartMs) return 1;
    return slowStartWeightMin + (1 - slowStartWeightMin) * (sinceMs / this.#slowStartMs);
  }

  healthyCount(): number {
    const nowMs = this.#clock.monoMs();
    this.#updatePanic(nowMs);
    let n = 0;
    for (const t of this.targets) if (this.eligible(t, nowMs)) n++;
    return n;
  }

  /** The target for the next try, never one in `exclude`; undefined when none is eligible. */
  pick(exclude?: readonly Target[], nowMs = this.#clock.monoMs()): Target<Conn> | undefined {
    this.#updatePanic(nowMs);
    // Two passes over the targets instead of collecting the eligible ones: a pick then
    // allocates nothing (it runs once per request).
    let n = 0;
    for (const t of this.targets) {
      if (this.eligible(t, nowMs) && (exclude === undefined || !exclude.includes(t))) n++;
    }
    if (n === 0) return undefined;
    if (n === 1) return this.#eligibleAt(0, exclude, nowMs);
    const ia = this.#random.int(n);
    const ib = (ia + 1 + this.#random.int(n - 1)) % n;
    const ta = this.#eligibleAt(ia, exclude, nowMs)!;
    const tb = this.#eligibleAt(ib, exclude, nowMs)!;
    // Slow start: a warming target takes part in a comparison only with probability equal
    // to its weight, so its share of picks grows with the weight.
    const wa = this.weight(ta, nowMs);
    const wb = this.weight(tb, nowMs);
    const offerA = wa >= 1 || this.#random.next() < wa;
    const offerB = wb >= 1 || this.#random.next() < wb;
    if (offerA !== offerB) return offerA ? ta : tb;
    if (!offerA) return wb > wa ? tb : ta;
    // Least outstanding requests; a tie goes to the first draw, itself random.
    return tb.outstanding < ta.outstanding ? tb : ta;
  }

  /** The k-th (0-based) eligible target not in `exclude`, in the order of `targets`. */
  #eligibleAt(k: number, exclude: readonly Target[] | undefined, nowMs: number): Target<Conn> | undefined {
    for (const t of this.targets) {
      if (this.eligible(t, nowMs) && (exclude === undefined || !exclude.includes(t)) && k-- === 0) return t;
    }
    return undefined;
  }

  /** A try got its response head: the target works. */
  recordSuccess(t: Target<Conn>): void {
    t.consecutiveFailures = 0;
  }

  /** A try failed at the gateway level (not an app's 5xx); returns true when this ejected the target. */
  recordFailure(t: Target<Conn>, kind: FailureKind): boolean {
    const nowMs = this.#clock.monoMs();
    // A refused connect means nothing listens, and a peer without capacity says so itself:
    // certain, so they eject at once. Resets and timeouts also happen to healthy targets
    // now and then, so only a run of them ejects.
    if (!countsTowardEjection(kind)) return false;
    const certain = kind === "connect-refused" || kind === "no-capacity";
    t.consecutiveFailures = certain ? ejectAfterFailures : t.consecutiveFailures + 1;
    if (nowMs < t.ejectedUntilMs) {
      // Already out; a refused connect while panic mode sends to it anyway makes it certain.
      if (certain) t.ejectedCertain = true;
      return false;
    }
    if (t.consecutiveFailures < ejectAfterFailures) return false;
    if (nowMs - t.lastEjectionMs > ejectionForgetMs) t.ejections = 0;
    t.ejections++;
    const forMs = Math.min(this.#ejectMaxMs, this.#ejectBaseMs * 2 ** (t.ejections - 1));
    t.ejectedUntilMs = nowMs + forMs;
    t.ejectedCertain = certain;
    t.lastEjectionMs = nowMs;
    t.consecutiveFailures = 0;
    t.pool.closeIdle();
    this.#onEvent?.({ type: "ejected", target: t, kind, forMs });
    return true;
  }

  /** An active health check answered (ok) or failed. */
  recordCheck(t: Target<Conn>, ok: boolean): void {
    const nowMs = this.#clock.monoMs();
    if (t.unknown) {
      // The first answer sets the state at once, so a starting gateway knows where it stands.
      t.unknown = false;
      t.healthy = ok;
      t.checkSuccesses = ok ? 1 : 0;
      t.checkFailures = ok ? 0 : 1;
      if (ok && t.late) t.healthySinceMs = nowMs;
      this.#onEvent?.({ type: "health", target: t, healthy: ok });
      return;
    }
    if (ok) {
      t.checkSuccesses++;
      t.checkFailures = 0;
      if (!t.healthy && t.checkSuccesses >= this.#rise) {
        t.healthy = true;
        t.healthySinceMs = nowMs;
        this.#onEvent?.({ type: "health", target: t, healthy: true });
      }
    } else {
      t.checkFailures++;
      t.checkSuccesses = 0;
      if (t.healthy && t.checkFailures >= this.#fall) {
        t.healthy = false;
        t.pool.closeIdle();
        this.#onEvent?.({ type: "health", target: t, healthy: false });
      }
    }
  }
}
