// Graceful drain on scale-down, the supervisor's half of docs/discovery.md: it adds the
// instance to its site's drain set (`_rs/drain/<site>`, a store set the gateways' registry
// watchers read), and only once every gateway of the site shows it out of rotation with
// nothing in flight (GET /_redshirt/backends) does it send SIGTERM. That closes the race
// behind lost requests on Kubernetes pod shutdown: the signal never overtakes the load
// balancer's view. (The SDK then drains once more on its own: lease draining, a notice,
// in-flight requests finish.)
import type { Logger } from "../../core/index.ts";
import type { StoreClient } from "../../store/index.ts";
import { gatewayBackendsPath } from "../../traffic/index.ts";
import { drainKey } from "../registry/index.ts";
import { drainReadTimeoutMs } from "./constants.ts";
import { httpGetJson } from "./http-get.ts";
import type { SupervisorMetrics } from "./metrics.ts";

/** What one gateway says about one instance. */
export type GatewayVerdict =
  /** Not listed, or out of rotation with nothing in flight: this gateway sends it nothing. */
  | "out"
  /** Still in rotation, or requests still in flight. */
  | "busy"
  /** The gateway does not listen (stopped or dead): it sends nothing. */
  | "gone"
  /** The gateway serves no backends view (older than the registry): nothing to confirm with. */
  | "no-view"
  /** No answer in time, or an answer we cannot read: keep waiting. */
  | "unknown";

/** Reads a backends view (the gateway's JSON) for one instance id. */
export function verdictFromView(view: unknown, id: string): GatewayVerdict {
  const backends = (view as { backends?: unknown })?.backends;
  if (!Array.isArray(backends)) return "unknown";
  const b = backends.find((x) => (x as { id?: unknown })?.id === id) as
    | { inRotation?: unknown; inFlight?: unknown }
    | undefined;
  if (!b) return "out";
  return b.inRotation === false && b.inFlight === 0 ? "out" : "busy";
}

/** A drain check of every gateway: done when none still sends to the instance. */
export type DrainCheck = { readonly done: boolean; readonly verdicts: Readonly<Record<string, GatewayVerdict>> };

export interface DrainGate {
  /** Asks the site's gateways to take the instance out of rotation. Never throws (failures are counted). */
  mark(id: string): Promise<void>;
  /** One look at every gateway given. */
  check(id: string, gateways: readonly { id: string; host: string; port: number }[]): Promise<DrainCheck>;
  /** The instance is gone: forget it. Never throws. */
  unmark(id: string): Promise<void>;
}

export class StoreDrainGate implements DrainGate {
  readonly #site: string;
  readonly #store: StoreClient;
  readonly #log: Logger;
  readonly #metrics: SupervisorMetrics;

  constructor(site: string, store: StoreClient, log: Logger, metrics: SupervisorMetrics) {
    this.#site = site;
    this.#store = store;
    this.#log = log;
    this.#metrics = metrics;
  }

  async mark(id: string): Promise<void> {
    try {
      // local-quorum: most replicas of the site hold the mark when the gateways' watchers read.
      await this.#store.add(drainKey(this.#site), [id], { consistency: "local-quorum", timeoutMs: 2_000 });
    } catch (err) {
      // The bounded wait still runs; gateways that cannot see the mark stop sending once the
      // instance closes (passive ejection, retries of idempotent requests).
      this.#metrics.drainMarkFailures.inc({ op: "mark" });
      this.#log.warn("drain mark failed", { id, err });
    }
  }

  async check(id: string, gateways: readonly { id: string; host: string; port: number }[]): Promise<DrainCheck> {
    const verdicts: Record<string, GatewayVerdict> = {};
    await Promise.all(
      gateways.map(async (g) => {
        const r = await httpGetJson(g.host, g.port, gatewayBackendsPath, drainReadTimeoutMs);
        verdicts[g.id] =
          r.kind === "refused"
            ? "gone"
            : r.kind === "json" && r.status === 200
              ? verdictFromView(r.body, id)
              : r.kind === "json" && r.status === 404
                ? "no-view"
                : "unknown";
      }),
    );
    const done = Object.values(verdicts).every((v) => v === "out" || v === "gone" || v === "no-view");
    return { done, verdicts };
  }

  async unmark(id: string): Promise<void> {
    try {
      await this.#store.remove(drainKey(this.#site), [id], { consistency: "local-quorum", timeoutMs: 2_000 });
    } catch (err) {
      this.#metrics.drainMarkFailures.inc({ op: "unmark" });
      this.#log.warn("drain unmark failed", { id, err });
    }
  }
}
