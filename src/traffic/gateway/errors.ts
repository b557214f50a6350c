// The gateway's error codes. A client meets them as the JSON body of a response the
// gateway answers itself; an operator meets them in logs and on the command line.
import { defineErrors } from "../../core/index.ts";

export const gatewayErrors = defineErrors("traffic", {
  RS_ERR_TRAFFIC_GATEWAY_BAD_REQUEST: {
    status: 400,
    message: "The request is malformed or ambiguous and was refused (it could smuggle a request); fix the client",
  },
  RS_ERR_TRAFFIC_GATEWAY_HEAD_TOO_LARGE: {
    status: 431,
    message: "The request head (request line and header fields) is too large; send fewer or smaller headers",
  },
  RS_ERR_TRAFFIC_GATEWAY_URI_TOO_LONG: {
    status: 414,
    message: "The request target is too long; shorten the path and query",
  },
  RS_ERR_TRAFFIC_GATEWAY_HEAD_TIMEOUT: {
    status: 408,
    message: "The request head did not arrive in time; send the whole head promptly",
  },
  RS_ERR_TRAFFIC_GATEWAY_NOT_IMPLEMENTED: {
    status: 501,
    message: "The gateway does not support this method or transfer coding; use chunked or Content-Length framing",
  },
  RS_ERR_TRAFFIC_GATEWAY_METHOD: {
    status: 405,
    message: "The gateway's own endpoints answer GET and HEAD only; use GET",
  },
  RS_ERR_TRAFFIC_GATEWAY_NOT_FOUND: {
    status: 404,
    message:
      "No such gateway endpoint; the gateway serves /_redshirt/healthz, /_redshirt/backends, /_redshirt/livez and /_redshirt/metrics",
  },
  RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND: {
    status: 503,
    message: "No healthy app instance here or in another site can take the request; retry after the time given",
  },
  RS_ERR_TRAFFIC_GATEWAY_OVERLOADED: {
    status: 503,
    message:
      "Every instance of this site is busy and its queue is full (or the wait in it ran out); retry after the time given in Retry-After",
  },
  RS_ERR_TRAFFIC_GATEWAY_RATE_LIMITED: {
    status: 429,
    message:
      "This source address sends more requests per second than the gateway's per-source cap (gateway.requestsPerSourcePerS); retry after the time given in Retry-After",
  },
  RS_ERR_TRAFFIC_GATEWAY_TOO_MANY_CONNECTIONS: {
    status: 429,
    message:
      "This source address holds as many connections as the gateway's per-source cap allows (gateway.connectionsPerSourceMax); reuse a kept-alive connection",
  },
  RS_ERR_TRAFFIC_GATEWAY_NO_SECRET: {
    status: 500,
    message:
      "The gateway needs the planet secret to authenticate other sites' gateways (RS-Hop); run `redshirt up` once or `redshirt secret init --planet F`, and copy planet.secret to every host",
  },
  RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_FAILED: {
    status: 502,
    message: "The app failed while handling the request and it was not safe to retry; retry with an Idempotency-Key",
  },
  RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_TIMEOUT: {
    status: 504,
    message: "The app did not answer in time and the request was not safe to retry; retry with an Idempotency-Key",
  },
  RS_ERR_TRAFFIC_GATEWAY_UNKNOWN_SITE: {
    status: 400,
    message: "The planet has no such site or gateway index; pick a site and index the planet defines",
  },
  RS_ERR_TRAFFIC_GATEWAY_LISTEN: {
    status: 500,
    message: "The gateway cannot listen on its address; check that no other process holds it",
  },
});

export type GatewayErrorCode = keyof typeof gatewayErrors.codes;
