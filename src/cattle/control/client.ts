// Calls one supervisor's control API: the bearer token from the planet secret, a bounded
// wait, the server's error codes turned back into RedshirtErrors (so a CLI prints the same
// `CODE: message` the server sent), and an unreachable supervisor told apart.
import { request } from "undici";
import { controlBearerToken, RedshirtError } from "../../core/index.ts";
import type { NodeInfo } from "../../topology/index.ts";
import { controlRoutes, type RouteName } from "./api.ts";
import { controlErrors } from "./errors.ts";

export const controlTimeoutMsDefault = 3_000;

export type ControlTarget = { readonly host: string; readonly port: number; readonly site: string };

export function targetOf(supervisor: NodeInfo): ControlTarget {
  return { host: supervisor.host, port: supervisor.port, site: supervisor.site };
}

export async function callControl<T>(
  target: ControlTarget,
  secret: Buffer,
  route: RouteName,
  options: { params?: Record<string, string>; body?: unknown; timeoutMs?: number } = {},
): Promise<T> {
  const r = controlRoutes[route];
  const path = r.path.replace(/:(\w+)/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? ""));
  const timeoutMs = options.timeoutMs ?? controlTimeoutMsDefault;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(`http://${target.host}:${target.port}${path}`, {
      method: r.method,
      headers: {
        authorization: `Bearer ${controlBearerToken(secret)}`,
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (cause) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_UNREACHABLE",
      `${target.site} at ${target.host}:${target.port}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const text = await res.body.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  if (res.statusCode >= 400) {
    const e = (body as { error?: { code?: string; message?: string } })?.error;
    throw new RedshirtError(
      e?.code ?? "RS_ERR_CATTLE_CONTROL_UNREACHABLE",
      { status: res.statusCode, message: e?.message ?? `HTTP ${res.statusCode}` },
      undefined,
    );
  }
  return body as T;
}
