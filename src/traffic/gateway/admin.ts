// The gateway's own endpoints under the admin prefix: healthz (what DNS servers and peer
// gateways probe), backends (what the supervisor polls before it stops an instance),
// livez, and metrics. Only GET and HEAD.
import { adminPrefix, gatewayBackendsPath, gatewayHealthPath } from "./constants.ts";
import type { GatewayMetrics } from "./metrics.ts";
import { errorResponse, type LocalResponse } from "./responses.ts";
import type { BackendsView, GatewayHealth } from "./status.ts";

export type AdminSource = {
  health(): GatewayHealth;
  backends(): BackendsView;
  readonly metrics: GatewayMetrics;
};

/** The answer to `method path` (a path under the admin prefix); `metricsExtra` adds text to the metrics page. */
export function adminResponse(
  gw: AdminSource,
  method: string,
  path: string,
  metricsExtra: (() => string) | undefined,
): LocalResponse {
  if (method !== "GET" && method !== "HEAD") return errorResponse("RS_ERR_TRAFFIC_GATEWAY_METHOD", method);
  switch (path) {
    case gatewayHealthPath: {
      const h = gw.health();
      return { status: h.ok ? 200 : 503, contentType: "application/json", body: `${JSON.stringify(h)}\n` };
    }
    case gatewayBackendsPath:
      return { status: 200, contentType: "application/json", body: `${JSON.stringify(gw.backends())}\n` };
    case `${adminPrefix}livez`:
      return { status: 200, contentType: "application/json", body: '{"live":true}\n' };
    case `${adminPrefix}metrics`:
      return {
        status: 200,
        contentType: "text/plain; version=0.0.4",
        body: gw.metrics.render() + (metricsExtra?.() ?? ""),
      };
    default:
      return errorResponse("RS_ERR_TRAFFIC_GATEWAY_NOT_FOUND", path);
  }
}
