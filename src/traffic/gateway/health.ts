// Active health checks: each target is probed on its own jittered schedule (so checks of
// many gateways do not beat in step), and every answer goes to the balancer, which applies
// rise and fall. The probe is injected: undici over HTTP in production, a function in
// tests. A probe that throws or times out is a failed check, never a crash.
import { Agent, request } from "undici";
import type { Clock, Random, TimerHandle } from "../../core/index.ts";
import type { Target } from "./balancer.ts";
import { healthJitterRatio } from "./constants.ts";

export type Probe = (target: Target, timeoutMs: number) => Promise<boolean>;

export type HealthCheckerOptions = {
  readonly clock: Clock;
  readonly random: Random;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly probe: Probe;
  readonly onResult: (target: Target, ok: boolean) => void;
};

export class HealthChecker {
  readonly #o: HealthCheckerOptions;
  readonly #timers = new Map<Target, TimerHandle | undefined>();
  #stopped = false;

  constructor(options: HealthCheckerOptions) {
    this.#o = options;
  }

  /** Starts checking a target; its first check runs now and resolves when answered. */
  add(target: Target): Promise<void> {
    if (this.#stopped || this.#timers.has(target)) return Promise.resolve();
    this.#timers.set(target, undefined);
    return this.#run(target);
  }

  remove(target: Target): void {
    this.#timers.get(target)?.cancel();
    this.#timers.delete(target);
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) t?.cancel();
    this.#timers.clear();
  }

  /** The next check's delay: the interval ± the jitter ratio. */
  nextDelayMs(): number {
    const { intervalMs, random } = this.#o;
    return intervalMs * (1 - healthJitterRatio + 2 * healthJitterRatio * random.next());
  }

  async #run(target: Target): Promise<void> {
    let ok = false;
    try {
      ok = await this.#o.probe(target, this.#o.timeoutMs);
    } catch {
      ok = false;
    }
    if (this.#stopped || !this.#timers.has(target)) return;
    this.#o.onResult(target, ok);
    this.#timers.set(
      target,
      this.#o.clock.setTimer(this.nextDelayMs(), () => {
        void this.#run(target);
      }),
    );
  }
}

/** Probes GET <path> over HTTP with undici; 2xx is healthy. */
export function httpProbe(path: string): { probe: Probe; close(): Promise<void> } {
  const agent = new Agent({ keepAliveTimeout: 2_000, keepAliveMaxTimeout: 2_000, connections: 2 });
  return {
    probe: async (target, timeoutMs) => {
      const host = target.host.includes(":") ? `[${target.host}]` : target.host;
      const { statusCode, body } = await request(`http://${host}:${target.port}${path}`, {
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await body.dump();
      return statusCode >= 200 && statusCode < 300;
    },
    close: () => agent.close(),
  };
}
