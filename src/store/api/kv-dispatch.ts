// One key-value request, whichever protocol carried it (HTTP/1.1 + JSON in http-api.ts, the
// binary protocol in binary-api.ts): its parts are parsed by the same functions
// (http-request.ts), handed to the engine, and its answer is shaped as the HTTP status and
// JSON body the manual documents, so both protocols answer alike.
import { randomUUID } from "node:crypto";
import type { Planet } from "../../topology/index.ts";
import type { ReadResult, SessionToken, StoreApi } from "../api-types.ts";
import { encodeSessionToken, mergeSessionTokens } from "../replication/session-encoding.ts";
import { storeHttpErrors } from "./http-errors.ts";
import { storeHeaders } from "./http-headers.ts";
import {
  type PostAction,
  parseConsistency,
  parseMutation,
  parseOpId,
  parseTimeoutMs,
  parseToken,
} from "./http-request.ts";

export type Reply = { status: number; body: unknown; headers?: Record<string, string> };

export type KvRequest = {
  readonly method: string;
  readonly key: string;
  readonly action: PostAction | undefined;
  readonly body: string;
  /** The query string of an HTTP request (`consistency=` only); empty for the binary protocol. */
  readonly query: URLSearchParams;
  readonly consistency: string | undefined;
  readonly session: string | undefined;
  readonly timeoutMs: string | undefined;
  readonly opId: string | undefined;
  /** Answer a mutation without its value. */
  readonly ackOnly?: boolean;
};

export type KvAnswer = { readonly reply: Reply; readonly token: string | undefined; readonly opId: string | undefined };

export async function dispatchKv(
  api: StoreApi,
  at: { readonly planet: Planet; readonly secret: Buffer },
  r: KvRequest,
): Promise<KvAnswer> {
  const consistency = parseConsistency(r.query, r.consistency, at.planet.store.consistency);
  const token = parseToken(r.session, at.secret);
  const timeoutMs = parseTimeoutMs(r.timeoutMs);
  const { key } = r;
  if (r.method === "GET") {
    // A GET's body, if any, was read and is ignored.
    const result = await api.read({ key, consistency, token, timeoutMs });
    const signedToken = signed(mergeSessionTokens(token, result.token), at.secret);
    return { reply: valueReply(key, result.value, signedToken, undefined, false), token: signedToken, opId: undefined };
  }
  const opIdGiven = parseOpId(r.opId);
  const mutation = parseMutation(r.method, r.action, r.body);
  // Without an Idempotency-Key the server picks one, so a retry by the client is a new op.
  const opId = opIdGiven ?? randomUUID();
  const result = await api.mutate({ key, mutation, opId, consistency, token, timeoutMs });
  const signedToken = signed(mergeSessionTokens(token, result.token), at.secret);
  return {
    reply: valueReply(key, result.value, signedToken, result.duplicate, r.ackOnly === true),
    token: signedToken,
    opId,
  };
}

function signed(token: SessionToken, secret: Buffer): string | undefined {
  return Object.keys(token).length > 0 ? encodeSessionToken(token, secret) : undefined;
}

function valueReply(
  key: string,
  value: ReadResult,
  token: string | undefined,
  duplicate: boolean | undefined,
  ackOnly: boolean,
): Reply & { headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers[storeHeaders.session] = token;
  if (duplicate === undefined && !value.exists) {
    const err = storeHttpErrors.create("RS_ERR_STORE_NOT_FOUND", undefined, { detail: { key } });
    return { status: 404, body: err.toJSON(), headers };
  }
  const body: Record<string, unknown> = { key, exists: value.exists };
  if (value.exists && !ackOnly) {
    body.type = value.type;
    body.value = value.value;
  }
  if (duplicate !== undefined) body.duplicate = duplicate;
  return { status: 200, body, headers };
}
