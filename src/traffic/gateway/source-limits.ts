// Per-source-address limits on client connections: how many connections one address may
// hold at once (HAProxy's `src_conn_cur` rule, Envoy's per-downstream connection limit) and
// how many requests per second it may send (a token bucket; `sc_http_req_rate`). Peer
// gateways are exempt (the caller checks): one of them carries a whole site's failover. The
// rate table is bounded: the least recently seen source is forgotten first, which only ever
// errs towards letting a request through.
import type { Socket } from "node:net";
import { rateSourcesMax } from "./constants.ts";
import { errorResponse, serializeResponse } from "./responses.ts";

type Bucket = { tokens: number; lastMs: number };

export type SourceLimitOptions = {
  readonly connectionsPerSourceMax: number;
  /** 0: no rate cap. */
  readonly requestsPerSourcePerS: number;
  /** 0: one second's worth. */
  readonly requestsPerSourceBurst: number;
};

export class SourceLimits {
  readonly #o: SourceLimitOptions;
  readonly #burst: number;
  readonly #connections = new Map<string, number>();
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: SourceLimitOptions) {
    this.#o = options;
    this.#burst = options.requestsPerSourceBurst > 0 ? options.requestsPerSourceBurst : options.requestsPerSourcePerS;
  }

  /** Counts a new connection from `ip`; false (and not counted) when the source is at its cap. */
  openConnection(ip: string): boolean {
    const n = this.#connections.get(ip) ?? 0;
    if (n >= this.#o.connectionsPerSourceMax) return false;
    this.#connections.set(ip, n + 1);
    return true;
  }

  closeConnection(ip: string): void {
    const n = this.#connections.get(ip) ?? 0;
    if (n <= 1) this.#connections.delete(ip);
    else this.#connections.set(ip, n - 1);
  }

  connectionsOf(ip: string): number {
    return this.#connections.get(ip) ?? 0;
  }

  /** Takes a token for one request from `ip`; false when its bucket is empty. */
  allowRequest(ip: string, nowMs: number): boolean {
    const rate = this.#o.requestsPerSourcePerS;
    if (rate <= 0) return true;
    let b = this.#buckets.get(ip);
    if (b === undefined) {
      b = { tokens: this.#burst, lastMs: nowMs };
      if (this.#buckets.size >= rateSourcesMax) this.#buckets.delete(this.#buckets.keys().next().value as string);
    } else {
      // Re-inserted so the map's order stays least recently seen first.
      this.#buckets.delete(ip);
      b.tokens = Math.min(this.#burst, b.tokens + ((nowMs - b.lastMs) / 1000) * rate);
      b.lastMs = nowMs;
    }
    this.#buckets.set(ip, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}

/** A connection from a source at its cap: told so (429, Retry-After) and closed; dropped if it does not take the answer. */
export function refuseConnection(socket: Socket, lingerMs: number): void {
  // A reset from a client being turned away is no failure of ours: nothing to count beyond the refusal.
  socket.on("error", () => {});
  socket.setTimeout(lingerMs, () => socket.destroy());
  const r = errorResponse("RS_ERR_TRAFFIC_GATEWAY_TOO_MANY_CONNECTIONS");
  socket.end(serializeResponse(r, { close: true, headOnly: false }), () => socket.destroy());
}
