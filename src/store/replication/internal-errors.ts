// Failures inside the engine that no caller is waiting for (a peer's message that cannot be
// handled, a hint that could not be committed, a periodic chore that threw). None may pass
// unseen: each is counted in `redshirt_store_internal_errors_total{reason}` and logged with
// its cause. The log is throttled per reason (the first at once, then one line per interval
// saying how many were not logged), so a peer that floods bad messages cannot flood the log;
// the counter always counts every one. Tests of healthy runs assert the counter stays 0.
import type { Clock, Counter, Logger } from "../../core/index.ts";

/** After a reason was logged, further ones are only counted for this long. */
const logIntervalMs = 10_000;

export type InternalErrorReason =
  | "peer-message"
  | "hint-commit"
  | "tick"
  | "relay-pace"
  | "anti-entropy-message"
  | "anti-entropy-tick";

export class InternalErrors {
  readonly #counter: Counter;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #lastLogMs = new Map<InternalErrorReason, number>();
  readonly #unlogged = new Map<InternalErrorReason, number>();
  /** Every internal error counted since start, for tests. */
  total = 0;

  constructor(counter: Counter, log: Logger, clock: Clock) {
    this.#counter = counter;
    this.#log = log;
    this.#clock = clock;
  }

  report(reason: InternalErrorReason, err: unknown, detail: Record<string, string | number> = {}): void {
    this.total++;
    this.#counter.inc({ reason });
    const nowMs = this.#clock.monoMs();
    const last = this.#lastLogMs.get(reason);
    if (last !== undefined && nowMs - last < logIntervalMs) {
      this.#unlogged.set(reason, (this.#unlogged.get(reason) ?? 0) + 1);
      return;
    }
    this.#lastLogMs.set(reason, nowMs);
    const notLogged = this.#unlogged.get(reason) ?? 0;
    this.#unlogged.delete(reason);
    this.#log.error("store internal error", { reason, ...detail, notLoggedSinceLast: notLogged, err: err as Error });
  }
}
