// Session tokens travel as opaque strings (a header, a cookie): base64url of the JSON of a
// SessionToken, `{"<coordinator node id>": <HLC of the session's last write through it>}`.
// JSON keeps them readable for a person debugging; base64url keeps them cookie-safe.
import type { SessionToken } from "../api-types.ts";
import { sessionTokenCharsMax, sessionTokenEntriesMax } from "../constants.ts";
import { storeErrors } from "../errors.ts";

const nodeIdRe = /^[a-z][a-z0-9-]{0,63}$/;
const base64urlRe = /^[A-Za-z0-9_-]*$/;

export function encodeSessionToken(token: SessionToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

/** Decodes a token a client sent; anything malformed is RS_ERR_STORE_BAD_REQUEST naming `field`. */
export function decodeSessionToken(text: string, field = "RS-Session"): SessionToken {
  const bad = (why: string) => storeErrors.create("RS_ERR_STORE_BAD_REQUEST", `${field}: ${why}`);
  if (text.length > sessionTokenCharsMax) throw bad(`longer than ${sessionTokenCharsMax} characters`);
  if (!base64urlRe.test(text)) throw bad("not base64url; send back the token a response gave you, unchanged");
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw bad("not a session token; send back the token a response gave you, unchanged");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw bad("not a session token");
  const entries = Object.entries(parsed);
  if (entries.length > sessionTokenEntriesMax) throw bad(`names more than ${sessionTokenEntriesMax} nodes`);
  const token: Record<string, number> = {};
  for (const [node, hlc] of entries) {
    if (!nodeIdRe.test(node)) throw bad(`names an invalid node id ${JSON.stringify(node.slice(0, 70))}`);
    if (typeof hlc !== "number" || !Number.isSafeInteger(hlc) || hlc < 0) {
      throw bad(`the entry for ${node} is not a non-negative safe integer`);
    }
    token[node] = hlc;
  }
  return token;
}

/**
 * The token that covers both: per node, the later HLC. Over the entry limit, the oldest
 * entries go: a write that old has long reached every replica, so forgetting it costs
 * nothing in practice, while a token that grew without bound would be refused.
 */
export function mergeSessionTokens(a: SessionToken | undefined, b: SessionToken | undefined): SessionToken {
  if (!a || Object.keys(a).length === 0) return b ?? {};
  if (!b || Object.keys(b).length === 0) return a;
  const out: Record<string, number> = { ...a };
  for (const [node, hlc] of Object.entries(b)) if (!Object.hasOwn(out, node) || out[node] < hlc) out[node] = hlc;
  const entries = Object.entries(out);
  if (entries.length <= sessionTokenEntriesMax) return out;
  entries.sort((x, y) => y[1] - x[1]);
  return Object.fromEntries(entries.slice(0, sessionTokenEntriesMax));
}
