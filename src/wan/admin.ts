// The admin endpoint of a link process, on node:http (a few requests a minute, not a data
// path). Every request must carry the planet's control token; the rest is
//   GET  /_redshirt/wan/links    every link this process hosts, with its counters
//   GET  /_redshirt/wan/metrics  Prometheus text
//   POST /_redshirt/wan/cut      {"from","to"}            partition the link
//   POST /_redshirt/wan/heal     {"from","to"}            bring it back
//   POST /_redshirt/wan/slow     {"from","to","extraDelayMs"?,"bandwidthMbps"?}  (null lifts the limit)
//   POST /_redshirt/wan/unslow   {"from","to"}            lift a slow that has a ttl
// cut and slow take "ttlMs" and "faultId" (both or neither): this process reverts the change
// at expiry, also when whoever asked for it is gone.
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { isControlAuthorized, isRedshirtError, type RedshirtError } from "../core/index.ts";
import { topologyConstants } from "../topology/index.ts";
import { adminBodyBytesMax, extraDelayMsMax, faultTtlMsMax } from "./constants.ts";
import { wanErrors } from "./errors.ts";
import type { LinkStatus, LinkTtl } from "./link.ts";
import type { WanNode } from "./node.ts";

export const wanAdminPrefix = "/_redshirt/wan/";

const linkName = z.string().min(1).max(64);
const ttlFields = { ttlMs: z.number().int().min(0).max(faultTtlMsMax).optional(), faultId: linkName.optional() };
const bothOrNeither = (b: { ttlMs?: number; faultId?: string }) =>
  (b.ttlMs === undefined) === (b.faultId === undefined);
const bothOrNeitherMessage = { message: "give ttlMs and faultId together, or neither" };
const linkRefSchema = z
  .object({ from: linkName, to: linkName, ...ttlFields })
  .strict()
  .refine(bothOrNeither, bothOrNeitherMessage);
const slowSchema = z
  .object({
    from: linkName,
    to: linkName,
    extraDelayMs: z.number().min(0).max(extraDelayMsMax).optional(),
    bandwidthMbps: z.number().positive().max(topologyConstants.bandwidthMbpsMax).nullable().optional(),
    ...ttlFields,
  })
  .strict()
  .refine(bothOrNeither, bothOrNeitherMessage)
  .refine((b) => b.extraDelayMs !== undefined || b.bandwidthMbps !== undefined, {
    message: "give extraDelayMs, bandwidthMbps or both",
  });

/** The answer of GET /_redshirt/wan/links. */
export type LinkListing = { readonly site: string; readonly links: readonly LinkStatus[] };

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === "string" ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; version=0.0.4" : "application/json",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: RedshirtError, headers?: Record<string, string>): void {
  send(res, err.status, err.toJSON(), headers);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > adminBodyBytesMax) {
      throw wanErrors.create("RS_ERR_WAN_BAD_REQUEST", `body larger than ${adminBodyBytesMax} bytes`);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text === "" ? "{}" : text);
  } catch (cause) {
    throw wanErrors.create("RS_ERR_WAN_BAD_REQUEST", "the body is not JSON", { cause });
  }
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`);
  throw wanErrors.create("RS_ERR_WAN_BAD_REQUEST", issues.join("; "));
}

function ttlOf(b: { ttlMs?: number; faultId?: string }): LinkTtl | undefined {
  return b.ttlMs !== undefined && b.faultId !== undefined ? { ttlMs: b.ttlMs, faultId: b.faultId } : undefined;
}

async function route(node: WanNode, req: IncomingMessage, res: ServerResponse): Promise<string> {
  const path = (req.url ?? "/").split("?")[0];
  const op = path.startsWith(wanAdminPrefix) ? path.slice(wanAdminPrefix.length) : undefined;
  const known = ["links", "metrics", "cut", "heal", "slow", "unslow"];
  if (op === undefined || !known.includes(op)) throw wanErrors.create("RS_ERR_WAN_NOT_FOUND", path);
  const wantMethod = op === "links" || op === "metrics" ? "GET" : "POST";
  if (req.method !== wantMethod) {
    throw wanErrors.create("RS_ERR_WAN_METHOD", `${req.method} ${path} (use ${wantMethod})`);
  }
  if (op === "links") {
    const listing: LinkListing = { site: node.site, links: node.list() };
    send(res, 200, listing);
  } else if (op === "metrics") {
    send(res, 200, node.metrics.render());
  } else if (op === "slow") {
    const b = parse(slowSchema, await readJson(req));
    const change = { extraDelayMs: b.extraDelayMs, bandwidthMbps: b.bandwidthMbps };
    send(res, 200, { link: node.slow(b.from, b.to, change, ttlOf(b)) });
  } else {
    const b = parse(linkRefSchema, await readJson(req));
    const link =
      op === "cut"
        ? node.cut(b.from, b.to, ttlOf(b))
        : op === "unslow"
          ? node.unslow(b.from, b.to)
          : node.heal(b.from, b.to);
    send(res, 200, { link });
  }
  return op;
}

/** Serves one admin request; errors become JSON with their code, never a crash. */
export function handleAdmin(node: WanNode, req: IncomingMessage, res: ServerResponse): void {
  if (!isControlAuthorized(node.secret, req.headers.authorization)) {
    node.metrics.adminRequests.inc({ result: "unauthorized" });
    req.resume();
    sendError(res, wanErrors.create("RS_ERR_WAN_UNAUTHORIZED"), { "www-authenticate": 'Bearer realm="redshirt"' });
    return;
  }
  route(node, req, res).then(
    (op) => node.metrics.adminRequests.inc({ result: op }),
    (err: unknown) => {
      if (isRedshirtError(err)) {
        node.metrics.adminRequests.inc({ result: err.code });
        if (!res.headersSent) sendError(res, err);
        return;
      }
      node.metrics.adminRequests.inc({ result: "internal" });
      node.log.error("admin request failed", { err, url: req.url });
      if (!res.headersSent) sendError(res, wanErrors.create("RS_ERR_WAN_INTERNAL", String(err)));
      else res.destroy();
    },
  );
}
