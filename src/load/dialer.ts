// How a user's browser reaches an address the DNS gave: over the user's region's access
// link through the emulated WAN (the topology's dialAddress, the one dialing code path), or
// directly on real hosts. The URL keeps the gateway's own address, as a browser's does; only
// the socket goes where the topology says. Each user has their own connection pool (their
// own browser), so users never share a connection.
import net from "node:net";
import { Agent, type buildConnector } from "undici";
import { dialAddress, endpointOf, formatIpv4, type Planet } from "../topology/index.ts";
import { connectionsPerOriginMax, connectTimeoutMsDefault, keepAliveMsDefault } from "./constants.ts";
import { loadErrors } from "./errors.ts";

/** Error codes of a connection that never came up: the request certainly never left. */
export const connectFailureCodes: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
  "UND_ERR_CONNECT_TIMEOUT",
  "RS_ERR_LOAD_NO_ROUTE",
]);

/** The source address of a region's users on this machine (its block), undefined on real hosts. */
export function regionLocalAddress(planet: Planet, region: string): string | undefined {
  const block = planet.regions.find((r) => r.name === region)?.subnetCidr;
  return block ? formatIpv4((block.base | 1) >>> 0) : undefined;
}

export type RegionDialOptions = { readonly connectTimeoutMs?: number };

/** An undici connector that dials every origin from the region, where the topology says. */
export function regionConnector(
  planet: Planet,
  region: string,
  options: RegionDialOptions = {},
): buildConnector.connector {
  const localAddress = regionLocalAddress(planet, region);
  const timeoutMs = options.connectTimeoutMs ?? connectTimeoutMsDefault;
  return (opts, callback) => {
    const port = Number(opts.port) || 80;
    const endpoint = endpointOf(planet, opts.hostname, port);
    if (!endpoint) {
      const err = loadErrors.create(
        "RS_ERR_LOAD_NO_ROUTE",
        `${opts.hostname}:${port} is in no site of planet ${planet.name}`,
      );
      callback(err, null);
      return;
    }
    let to: { host: string; port: number };
    try {
      to = dialAddress(planet, region, endpoint);
    } catch (cause) {
      callback(loadErrors.create("RS_ERR_LOAD_NO_ROUTE", `${opts.hostname}:${port} from ${region}`, { cause }), null);
      return;
    }
    const socket = net.connect({ host: to.host, port: to.port, localAddress, noDelay: true });
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`connect to ${to.host}:${to.port} timed out after ${timeoutMs} ms`), {
        code: "UND_ERR_CONNECT_TIMEOUT",
      });
      socket.destroy(err);
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      callback(err, null);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      callback(null, socket);
    });
  };
}

/** One user's browser connection pool, dialing from the user's region. */
export function createUserAgent(planet: Planet, region: string, options: RegionDialOptions = {}): Agent {
  return new Agent({
    connect: regionConnector(planet, region, options),
    connections: connectionsPerOriginMax,
    keepAliveTimeout: keepAliveMsDefault,
    keepAliveMaxTimeout: keepAliveMsDefault,
  });
}
