// Readiness: an instance counts as ready only once it answers like one of its tier — a WAN
// link process answers on its admin endpoint, a store
// node's /healthz says it runs, a gateway's /_redshirt/livez answers, an app answers its
// ready path with 2xx/3xx, a DNS server answers a query (any DNS answer, even NXDOMAIN,
// proves it serves). Each probe is bounded and never throws: false means "not yet".
import { Resolver } from "node:dns/promises";
import { gatewayConstants } from "../../traffic/index.ts";
import { httpStatus } from "./http-get.ts";
import type { TierName } from "./tiers.ts";

export type ProbeTarget = { readonly tier: TierName; readonly host: string; readonly port: number };
export type Prober = (target: ProbeTarget) => Promise<boolean>;

/** DNS error codes that come from an answer: the server is up, whatever it thinks of the name. */
const answeredCodes = new Set(["ENODATA", "ENOTFOUND", "ESERVFAIL", "EREFUSED", "EFORMERR", "ENOTIMP", "EBADRESP"]);

export async function dnsAnswers(host: string, port: number, name: string, timeoutMs: number): Promise<boolean> {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([`${host}:${port}`]);
  try {
    await resolver.resolve4(name);
    return true;
  } catch (err) {
    return answeredCodes.has((err as NodeJS.ErrnoException).code ?? "");
  } finally {
    resolver.cancel();
  }
}

export function readinessProber(options: {
  readonly appReadyPath: string;
  /** The name a DNS server is asked (the planet's first service). */
  readonly dnsName: string;
  readonly timeoutMs: number;
}): Prober {
  return async ({ tier, host, port }) => {
    switch (tier) {
      case "wan": {
        // The admin endpoint asks for the control token; any answer (401 included) shows the
        // process listens, and it binds its admin address only after every link proxy.
        const status = await httpStatus(host, port, "/_redshirt/wan/links", options.timeoutMs);
        return status === 401 || status === 200;
      }
      case "store":
        return (await httpStatus(host, port, "/healthz", options.timeoutMs)) === 200;
      case "gateway":
        return (await httpStatus(host, port, `${gatewayConstants.adminPrefix}livez`, options.timeoutMs)) === 200;
      case "app": {
        const status = await httpStatus(host, port, options.appReadyPath, options.timeoutMs);
        return status >= 200 && status < 400;
      }
      case "dns":
        return await dnsAnswers(host, port, options.dnsName, options.timeoutMs);
    }
  };
}
