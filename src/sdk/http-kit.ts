// The small pieces every plain `node:http` handler of an app needs: a JSON body read with a
// size limit, cookies, JSON answers, and the headers that say which site and instance
// served a request (the load generator and the checker read them).
import type { IncomingMessage, ServerResponse } from "node:http";
import { isRedshirtError } from "../core/index.ts";
import { bodyBytesMax } from "./constants.ts";
import { sdkErrors } from "./errors.ts";

/** What a handler answers: a status, a JSON body, and extra headers (set-cookie, location). */
export type JsonAnswer = {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
};

export const servedHeaderNames = { site: "x-served-site", instance: "x-served-instance" } as const;

/** Reads the body as JSON (empty body: undefined); RS_ERR_SDK_BAD_BODY when too large or not JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes = bodyBytesMax): Promise<unknown> {
  const text = await readBodyText(req, maxBytes);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw sdkErrors.create("RS_ERR_SDK_BAD_BODY", "the body is not JSON; send a JSON object");
  }
}

/** Reads the body as text, refusing more than maxBytes. */
export async function readBodyText(req: IncomingMessage, maxBytes = bodyBytesMax): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw sdkErrors.create("RS_ERR_SDK_BAD_BODY", `the body is over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** The cookies of a request, by name (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** Writes a JSON answer; a response already sent is left alone. */
export function sendJson(res: ServerResponse, answer: JsonAnswer): void {
  if (res.headersSent) return;
  res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...answer.headers });
  res.end(`${JSON.stringify(answer.body)}\n`);
}

/** The JSON answer of an error: its code, message and whether a mutation certainly did not happen. */
export function errorAnswer(err: unknown): JsonAnswer {
  if (isRedshirtError(err)) {
    const status = err.status >= 400 && err.status < 600 ? err.status : 500;
    // A 4xx is bad input: nothing happened. A 5xx without a word from the store may have applied.
    const definite = err.definite ?? status < 500;
    return { status, body: { error: { code: err.code, message: err.message, definite } } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, body: { error: { code: "RS_ERR_SDK_INTERNAL", message, definite: false } } };
}
