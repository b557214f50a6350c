// Responses the gateway answers itself: its errors (a JSON body with a stable code, as
// every redshirt HTTP API answers) and its own endpoints. Built into one buffer each, so
// a storm of 503s costs one write per request.
import { STATUS_CODES } from "node:http";
import { errorHeaderName, retryAfterS } from "./constants.ts";
import { type GatewayErrorCode, gatewayErrors } from "./errors.ts";

export type LocalResponse = {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
  readonly extraHeaders?: string;
};

export function serializeResponse(r: LocalResponse, options: { close: boolean; headOnly: boolean }): Buffer {
  const reason = STATUS_CODES[r.status] ?? "Unknown";
  const bodyBytes = Buffer.byteLength(r.body);
  let head = `HTTP/1.1 ${r.status} ${reason}\r\nContent-Type: ${r.contentType}\r\nContent-Length: ${bodyBytes}\r\n`;
  head += "Cache-Control: no-store\r\n";
  if (r.extraHeaders) head += r.extraHeaders;
  if (options.close) head += "Connection: close\r\n";
  head += "\r\n";
  if (options.headOnly || bodyBytes === 0) return Buffer.from(head, "latin1");
  const out = Buffer.allocUnsafe(Buffer.byteLength(head, "latin1") + bodyBytes);
  const n = out.write(head, 0, "latin1");
  out.write(r.body, n, "utf8");
  return out;
}

/** The gateway's answer for one of its error codes. */
export function errorResponse(code: GatewayErrorCode, reason?: string): LocalResponse {
  const err = gatewayErrors.create(code, reason);
  // RS-Error names the code, so another site's gateway can tell "no capacity here" from an app's 503.
  let extra = `${errorHeaderName}: ${code}\r\n`;
  if (err.status === 503 || err.status === 429) extra += `Retry-After: ${retryAfterS}\r\n`;
  return {
    status: err.status,
    contentType: "application/json",
    body: `${JSON.stringify(err.toJSON())}\n`,
    extraHeaders: extra,
  };
}

/** The error code the gateway answers with for a status it produced. */
export function codeForStatus(status: number): GatewayErrorCode {
  switch (status) {
    case 400:
      return "RS_ERR_TRAFFIC_GATEWAY_BAD_REQUEST";
    case 404:
      return "RS_ERR_TRAFFIC_GATEWAY_NOT_FOUND";
    case 405:
      return "RS_ERR_TRAFFIC_GATEWAY_METHOD";
    case 408:
      return "RS_ERR_TRAFFIC_GATEWAY_HEAD_TIMEOUT";
    case 429:
      return "RS_ERR_TRAFFIC_GATEWAY_RATE_LIMITED";
    case 414:
      return "RS_ERR_TRAFFIC_GATEWAY_URI_TOO_LONG";
    case 431:
      return "RS_ERR_TRAFFIC_GATEWAY_HEAD_TOO_LARGE";
    case 501:
      return "RS_ERR_TRAFFIC_GATEWAY_NOT_IMPLEMENTED";
    case 502:
      return "RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_FAILED";
    case 503:
      return "RS_ERR_TRAFFIC_GATEWAY_NO_BACKEND";
    case 504:
      return "RS_ERR_TRAFFIC_GATEWAY_UPSTREAM_TIMEOUT";
    default:
      return "RS_ERR_TRAFFIC_GATEWAY_BAD_REQUEST";
  }
}
