// The few header changes a proxy must make, done on the head's text so an untouched head
// is copied in one slice. Requests: hop-by-hop fields (and those Connection names) are
// removed; X-Forwarded-For/-Proto/-Host and Forwarded are set — from a client replaced by
// what the gateway saw, from a peer gateway (an authenticated RS-Hop) extended, since only
// the first gateway saw the user; X-Request-Id is added when absent; upstream always speaks
// HTTP/1.1 keep-alive. Responses: hop-by-hop fields are
// removed and Connection is set for the client; an untouched response head is forwarded
// byte for byte (undefined from clientResponseHead).
import type { RequestHead, ResponseHead } from "./http-head.ts";

/** The client's address as it appears in forwarding headers (IPv4-mapped IPv6 unwrapped). */
export function clientAddress(remoteAddress: string | undefined): string {
  if (!remoteAddress) return "unknown";
  return remoteAddress.startsWith("::ffff:") ? remoteAddress.slice(7) : remoteAddress;
}

/**
 * The forwarding fields last sent for one client connection: they depend only on its
 * address and the Host, which a connection rarely changes, so most requests reuse them.
 */
export type ForwardingCache = { host: string; text: string };

export type RequestRewrite = {
  readonly clientIp: string;
  /** Host to send when an HTTP/1.0 request had none. */
  readonly hostDefault: string;
  /** Added when the request carries no X-Request-Id. */
  readonly requestId: string;
  /** The request came from a peer gateway (authenticated hop): its forwarding fields are kept and extended. */
  readonly fromPeer: boolean;
  /** Where a client connection keeps its last forwarding fields (not used for a peer's requests). */
  readonly cache?: ForwardingCache;
};

/** The upstream request head without its final CRLF, so a hop line can still be appended. */
export function upstreamRequestHead(h: RequestHead, w: RequestRewrite): string {
  const idLine = h.requestId ? "" : `X-Request-Id: ${w.requestId}\r\n`;
  return upstreamHeadStart(h, w) + idLine + upstreamHeadEnd(h);
}

/** The upstream head up to where X-Request-Id goes: the request line, the fields kept, Host if needed, forwarding. */
export function upstreamHeadStart(h: RequestHead, w: Omit<RequestRewrite, "requestId">): string {
  let out: string;
  const host = h.host ?? w.hostDefault;
  if (!h.anyDropped && !h.targetRewritten && h.minor === 1) {
    out = h.head.slice(0, h.head.length - 2);
  } else {
    out = h.targetRewritten || h.minor === 0 ? `${h.method} ${h.target} HTTP/1.1\r\n` : h.head.slice(0, h.firstLineEnd);
    for (const f of h.fields) if (!f.drop) out += h.head.slice(f.start, f.end);
    if (h.targetRewritten || h.host === undefined) out += `Host: ${host}\r\n`;
  }
  const cache = w.fromPeer ? undefined : w.cache;
  if (cache !== undefined && cache.host === host) return out + cache.text;
  const text = forwardingFields(h, w, host);
  if (cache !== undefined) {
    cache.host = host;
    cache.text = text;
  }
  return out + text;
}

/** What follows X-Request-Id in the upstream head (the upgrade's fields, if any), without the final CRLF. */
export function upstreamHeadEnd(h: RequestHead): string {
  return h.upgrade === undefined ? "" : `Connection: Upgrade\r\nUpgrade: ${h.upgrade}\r\n`;
}

/** X-Forwarded-For/-Proto/-Host and Forwarded. */
function forwardingFields(h: RequestHead, w: Omit<RequestRewrite, "requestId">, host: string): string {
  // A request that came from another site's gateway keeps what that gateway saw first; a
  // client's own forwarding fields are dropped (it could name any host or address).
  const fromPeer = w.fromPeer;
  const proto = fromPeer && h.forwardedProto ? h.forwardedProto : "http";
  const fwdHost = fromPeer && h.forwardedHost ? h.forwardedHost : host;
  const ip = w.clientIp;
  let out = `X-Forwarded-For: ${fromPeer && h.forwardedFor ? `${h.forwardedFor}, ${ip}` : ip}\r\n`;
  out += `X-Forwarded-Proto: ${proto}\r\nX-Forwarded-Host: ${fwdHost}\r\n`;
  const node = ip.includes(":") ? `"[${ip}]"` : ip;
  const element = `for=${node};host="${host}";proto=${proto}`;
  return `${out}Forwarded: ${fromPeer && h.forwarded ? `${h.forwarded}, ${element}` : element}\r\n`;
}

export type ResponseRewrite = {
  /** The gateway closes the client connection after this response. */
  readonly close: boolean;
  readonly clientMinor: 0 | 1;
  /** The body is chunked upstream but goes to the client without the framing (HTTP/1.0 client). */
  readonly dechunk: boolean;
};

/** Every ResponseRewrite, made once: the data path asks for one per response and allocates none. */
const responseRewrites: readonly ResponseRewrite[] = [false, true].flatMap((close) =>
  ([0, 1] as const).flatMap((clientMinor) =>
    [false, true].map((dechunk) => Object.freeze({ close, clientMinor, dechunk })),
  ),
);

export function responseRewrite(close: boolean, clientMinor: 0 | 1, dechunk: boolean): ResponseRewrite {
  return responseRewrites[(close ? 4 : 0) + clientMinor * 2 + (dechunk ? 1 : 0)];
}

/** The client response head, or undefined when the upstream head can be forwarded as is. */
export function clientResponseHead(r: ResponseHead, w: ResponseRewrite): string | undefined {
  const isUpgrade = r.status === 101 && r.upgrade !== undefined;
  if (!r.anyDropped && r.minor === 1 && !w.close && w.clientMinor === 1 && !w.dechunk && !isUpgrade) return undefined;
  let out = r.minor === 1 ? r.head.slice(0, r.firstLineEnd) : `HTTP/1.1${r.head.slice(8, r.firstLineEnd)}`;
  for (const f of r.fields) {
    if (f.drop || (w.dechunk && f.lc === "transfer-encoding")) continue;
    out += r.head.slice(f.start, f.end);
  }
  if (isUpgrade) out += `Connection: Upgrade\r\nUpgrade: ${r.upgrade}\r\n`;
  else if (w.close) out += "Connection: close\r\n";
  else if (w.clientMinor === 0) out += "Connection: keep-alive\r\n";
  return `${out}\r\n`;
}
