// The HTTP the DNS server speaks as a client: the gateway probe and the read of a peer's
// view. Each request uses a fresh connection from the DNS server's own address (so a
// gateway or a link emulator sees which vantage point asks) with a hard deadline. The probe
// judges by the status code alone and never reads the body: a body that grows with the
// site (the gateway's healthz once listed every instance) must not decide health — it made
// the probe fail, and the site leave DNS, past ~32 instances.
import http from "node:http";
import type { Clock } from "../../core/index.ts";
import { dnsAdminOf, type Endpoint, type HostPort, type NodeInfo, type Planet } from "../../topology/index.ts";
import { adminBodyBytesMax, adminPortOffset, gatewayHealthPath } from "./constants.ts";
import type { FetchViewFn, ProbeFn } from "./health.ts";

type GetResult = { status: number; body: Buffer };

/** Where to dial a target from this server's site (topology's dialAddress); default: the target itself. */
export type DialFn = (target: Endpoint) => HostPort;
const direct: DialFn = (t) => ({ host: t.host, port: t.port });

/**
 * bodyBytesMax 0: resolve with the status as soon as the response head arrives; the body is
 * then read and thrown away (never judged, never aborted for its size) until it ends or the
 * deadline closes the connection, so the gateway sees a client that read its answer.
 */
function get(
  clock: Clock,
  options: { host: string; port: number; path: string; localAddress: string | undefined },
  timeoutMs: number,
  bodyBytesMax: number,
): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: options.host,
      port: options.port,
      path: options.path,
      method: "GET",
      localAddress: options.localAddress,
      agent: false,
      headers: { connection: "close", "user-agent": "redshirt-dns" },
    });
    const deadline = clock.setTimer(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => {
      deadline.cancel();
      reject(err);
    });
    req.on("response", (res) => {
      if (bodyBytesMax === 0) {
        resolve({ status: res.statusCode ?? 0, body: Buffer.alloc(0) });
        // The verdict is in; the deadline still bounds how long the socket may stay open.
        res.on("end", () => deadline.cancel());
        res.on("error", () => deadline.cancel());
        res.resume();
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on("data", (c: Buffer) => {
        bytes += c.length;
        if (bytes > bodyBytesMax) req.destroy(new Error("response body too large"));
        else chunks.push(c);
      });
      res.on("end", () => {
        deadline.cancel();
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      res.on("error", (err) => {
        deadline.cancel();
        reject(err);
      });
    });
    req.end();
  });
}

/** Probes a gateway: GET /_redshirt/healthz answered 200 means its site can serve. */
export function httpProbe(clock: Clock, localAddress: string | undefined, dial: DialFn = direct): ProbeFn {
  return async (gateway: NodeInfo, timeoutMs: number) => {
    const r = await get(clock, { ...dial(gateway), path: gatewayHealthPath, localAddress }, timeoutMs, 0);
    return r.status === 200;
  };
}

/** The admin endpoint of a DNS server: its address, the DNS port plus adminPortOffset. */
export function adminPortOf(dnsServer: NodeInfo): number {
  return dnsServer.port + adminPortOffset;
}

/** Reads a peer DNS server's probe view (validated by the caller) from its management address. */
export function httpFetchView(
  clock: Clock,
  localAddress: string | undefined,
  planet: Planet,
  dial: DialFn = direct,
): FetchViewFn {
  return async (peer: NodeInfo, timeoutMs: number) => {
    const admin = dnsAdminOf(planet, peer);
    const r = await get(
      clock,
      {
        ...dial({ host: admin.host, port: admin.port, site: admin.site }),
        path: "/_redshirt/dns/view",
        localAddress,
      },
      timeoutMs,
      adminBodyBytesMax,
    );
    if (r.status !== 200) throw new Error(`peer ${peer.id} answered ${r.status}`);
    return JSON.parse(r.body.toString("utf8"));
  };
}
