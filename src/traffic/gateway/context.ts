// What the data path needs from the gateway that runs it: time, the balancers (local
// instances, then other sites' gateways nearest first), the retry budget, metrics, the
// timeouts, and the handler of the gateway's own endpoints.
import type { Clock, Logger } from "../../core/index.ts";
import type { GatewaySettings, ServiceSettings } from "../../topology/index.ts";
import type { Balancer } from "./balancer.ts";
import {
  connectTimeoutMsDefault,
  perTryTimeoutMsDefault,
  requestTimeoutMsDefault,
  streamIdleTimeoutMsDefault,
  tunnelIdleTimeoutMsDefault,
} from "./constants.ts";
import type { HopAuth } from "./hop.ts";
import type { GatewayMetrics } from "./metrics.ts";
import type { LocalResponse } from "./responses.ts";
import type { RetryBudget } from "./retry.ts";
import type { SourceLimits } from "./source-limits.ts";
import type { UpstreamConn } from "./upstream.ts";

export type Timeouts = {
  readonly connectTimeoutMs: number;
  readonly perTryTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly headReadTimeoutMs: number;
  readonly clientIdleTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly tunnelIdleTimeoutMs: number;
  /** A connection the gateway closes is dropped when the client has not taken the last bytes by then. */
  readonly lingerTimeoutMs: number;
  /** The longest a request waits in an instance's queue. */
  readonly queueTimeoutMs: number;
};

/** The timeouts from the planet's gateway settings and the fixed defaults, then any override (tests, CLI flags). */
export function resolveTimeouts(
  settings: Pick<GatewaySettings, "headTimeoutMs" | "idleTimeoutMs" | "lingerTimeoutMs" | "queueTimeoutMs">,
  overrides: Partial<Timeouts> | undefined,
): Timeouts {
  return {
    connectTimeoutMs: connectTimeoutMsDefault,
    perTryTimeoutMs: perTryTimeoutMsDefault,
    requestTimeoutMs: requestTimeoutMsDefault,
    headReadTimeoutMs: settings.headTimeoutMs,
    clientIdleTimeoutMs: settings.idleTimeoutMs,
    streamIdleTimeoutMs: streamIdleTimeoutMsDefault,
    tunnelIdleTimeoutMs: tunnelIdleTimeoutMsDefault,
    lingerTimeoutMs: settings.lingerTimeoutMs,
    queueTimeoutMs: settings.queueTimeoutMs,
    ...overrides,
  };
}

export interface ProxyContext {
  readonly clock: Clock;
  readonly log: Logger;
  /** This gateway's site: the value of the hop header it adds. */
  readonly site: string;
  readonly timeouts: Timeouts;
  readonly metrics: GatewayMetrics;
  readonly budget: RetryBudget;
  /** Requests that may wait per instance when all are saturated. */
  readonly pendingPerInstanceMax: number;
  readonly sourceLimits: SourceLimits;
  /** Which RS-Hop to believe, and the one to send. */
  readonly hops: HopAuth;
  /** The retry choices of the service a request's Host names. */
  serviceOf(host: string | undefined): ServiceSettings;
  readonly local: Balancer<UpstreamConn>;
  /** Other sites' gateways, one balancer per site, nearest site first. */
  readonly remote: readonly Balancer<UpstreamConn>[];
  /** Source address of upstream connections (the gateway's own), or undefined for the OS's choice. */
  readonly sourceAddress: string | undefined;
  /** Host sent upstream for an HTTP/1.0 request without one. */
  readonly hostDefault: string;
  /** Stopping: answer with Connection: close and take no new connections. */
  readonly shuttingDown: boolean;
  /** Answers a request for the gateway's own endpoints (path under the admin prefix). */
  admin(method: string, path: string): LocalResponse;
  /** The balancer a target belongs to. */
  balancerOf(target: UpstreamConn["target"]): Balancer<UpstreamConn>;
}
