// The store client's wire helpers: each mutation's endpoint and body, the checks of what a
// caller passes, and how an answer or a socket error becomes a typed error (definite when the
// request certainly never reached the node).
import { RedshirtError } from "../../core/index.ts";
import { type Consistency, consistencyLevels } from "../../topology/index.ts";
import type { Mutation } from "../api-types.ts";
import { keyBytesMax, requestTimeoutMsMax } from "../constants.ts";
import { storeErrors } from "../errors.ts";

/** The endpoint and body of each kind of mutation (docs/store.md lists them). */
export function requestOf(m: Mutation): {
  method: "PUT" | "POST" | "DELETE";
  action?: string;
  payload?: Record<string, unknown>;
} {
  switch (m.kind) {
    case "set":
      return { method: "PUT", payload: { value: m.value } };
    case "incr":
      return { method: "POST", action: "incr", payload: { by: m.by } };
    case "sadd":
      return { method: "POST", action: "add", payload: { members: m.members } };
    case "srem":
      return { method: "POST", action: "remove", payload: { members: m.members } };
    case "mset":
    case "mincr":
    case "mdel":
      return { method: "POST", action: m.kind, payload: { fields: m.fields } };
    case "del":
      return { method: "DELETE" };
  }
}

export function checkKey(key: string): void {
  if (typeof key !== "string" || key.length === 0)
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "key: must not be empty");
  const bytes = Buffer.byteLength(key);
  if (bytes > keyBytesMax) throw storeErrors.create("RS_ERR_STORE_KEY_TOO_LARGE", `${bytes} bytes`);
}

export function checkConsistency(level: string): Consistency {
  if (!(consistencyLevels as readonly string[]).includes(level)) {
    throw storeErrors.create("RS_ERR_STORE_BAD_CONSISTENCY", JSON.stringify(level));
  }
  return level as Consistency;
}

export function checkTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > requestTimeoutMsMax) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `timeoutMs: must be an integer in 1..${requestTimeoutMsMax}`);
  }
  return ms;
}

export function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export function errorCode(body: Record<string, unknown> | undefined): string | undefined {
  const e = body?.error as { code?: unknown } | undefined;
  return typeof e?.code === "string" ? e.code : undefined;
}

/** The server's error as a RedshirtError with its code and message, when it named one. */
export function serverError(status: number, body: Record<string, unknown> | undefined): RedshirtError | undefined {
  const e = body?.error as { code?: unknown; message?: unknown; definite?: unknown; detail?: unknown } | undefined;
  if (typeof e?.code !== "string" || !e.code.startsWith("RS_ERR_")) return undefined;
  const message = typeof e.message === "string" ? e.message : e.code;
  const detail = typeof e.detail === "object" && e.detail !== null ? (e.detail as Record<string, unknown>) : undefined;
  const definite = typeof e.definite === "boolean" ? e.definite : undefined;
  return new RedshirtError(e.code, { status, message, definite }, undefined, { detail });
}

export function clientError(sent: { status: number; body: Record<string, unknown> }): RedshirtError {
  return (
    serverError(sent.status, sent.body) ??
    storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `the node answered HTTP ${sent.status} without an error code`)
  );
}

/** Failed before the request could reach the node (nothing was sent): a definite failure. */
export function neverSent(err: unknown): boolean {
  const code = (err as { code?: string })?.code;
  return (
    code === "ECONNREFUSED" ||
    code === "UND_ERR_CONNECT_TIMEOUT" ||
    code === "ENOTFOUND" ||
    code === "EHOSTUNREACH" ||
    code === "ENETUNREACH" ||
    code === "EADDRNOTAVAIL"
  );
}

export function describe(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "timed out";
  return e?.code ?? e?.message ?? String(err);
}
