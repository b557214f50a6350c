// Session tokens travel as opaque strings (a header, a cookie): base64url of the JSON
// `{"<coordinator node id>": [<HLC of the session's last write through it>, "<MAC>"]}`.
// JSON keeps them readable for a person debugging; base64url keeps them cookie-safe.
//
// Each entry is signed on its own (the MAC is HMAC-SHA256 of the node id and HLC under the
// planet secret, cut to 128 bits), so a token is a set of claims "this session wrote through
// node N up to HLC h", each vouched for by a store node. Only nodes hold the secret: they
// sign what they answer and refuse any entry whose MAC does not check out
// (RS_ERR_STORE_BAD_SESSION). A client merges tokens without the secret, by keeping, per
// node, the entry with the later HLC as it came — merged entries stay signed, and a client
// with many requests in flight still ends up with a token that covers every one of them.
import { createHash, type Hash } from "node:crypto";
import { macEqual } from "../../core/index.ts";
import type { SessionToken } from "../api-types.ts";
import { sessionTokenCharsMax, sessionTokenEntriesMax, sessionTokenMacChars } from "../constants.ts";
import { storeErrors } from "../errors.ts";

// A node id, with `/g` for the entry of its writes at a site-safe level (session-token.ts).
const entryNameRe = /^[a-z][a-z0-9-]{0,63}(?:\/g)?$/;
const base64urlRe = /^[A-Za-z0-9_-]*$/;
const macRe = new RegExp(`^[0-9a-f]{${sessionTokenMacChars}}$`);

/** A token as it travels: per node, the HLC and the MAC that signs the pair. */
type SignedEntries = Record<string, readonly [hlc: number, mac: string]>;

/**
 * MACs this process computed, per secret: a client sends back the same entries request after
 * request (only the entry of the node it last wrote through changes), so most checks and
 * signatures are a lookup instead of an HMAC. It holds only MACs made here, so it cannot be
 * fed a forgery; bounded by clearing it when full.
 */
const macMemo = new WeakMap<Buffer, Map<string, string>>();
const macMemoMax = 8_192;

/**
 * HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once per secret: each MAC
 * then copies two prepared hashes instead of preparing the key again, which cost more than
 * the hashing itself on the request path. Equal to hmacHex (a test holds them to it).
 */
type Pads = { readonly inner: Hash; readonly outer: Hash };
const padsOf = new WeakMap<Buffer, Pads>();

export function fastHmacHex(secret: Buffer, message: string): string {
  let pads = padsOf.get(secret);
  if (!pads) {
    const block = 64;
    const key = Buffer.alloc(block);
    (secret.length > block ? createHash("sha256").update(secret).digest() : secret).copy(key);
    const ipad = Buffer.alloc(block);
    const opad = Buffer.alloc(block);
    for (let i = 0; i < block; i++) {
      ipad[i] = key[i] ^ 0x36;
      opad[i] = key[i] ^ 0x5c;
    }
    pads = { inner: createHash("sha256").update(ipad), outer: createHash("sha256").update(opad) };
    padsOf.set(secret, pads);
  }
  const inner = pads.inner.copy().update(message).digest();
  return pads.outer.copy().update(inner).digest("hex");
}

function entryMac(secret: Buffer, node: string, hlc: number): string {
  let memo = macMemo.get(secret);
  if (!memo) {
    memo = new Map();
    macMemo.set(secret, memo);
  }
  const id = `${node}\u0000${hlc}`;
  let mac = memo.get(id);
  if (mac === undefined) {
    // The parts joined by NUL, as hmacHex joins them.
    mac = fastHmacHex(secret, `redshirt-session-v1\u0000${id}`).slice(0, sessionTokenMacChars);
    if (memo.size >= macMemoMax) memo.clear();
    memo.set(id, mac);
  }
  return mac;
}

/** Signs and encodes a token; only a node (it holds the planet secret) makes one. */
export function encodeSessionToken(token: SessionToken, secret: Buffer): string {
  const signed: SignedEntries = {};
  for (const [node, hlc] of Object.entries(token)) signed[node] = [hlc, entryMac(secret, node, hlc)];
  return Buffer.from(JSON.stringify(signed)).toString("base64url");
}

/**
 * Decodes a token a client sent and checks every entry's MAC. A malformed, altered or
 * forged token is RS_ERR_STORE_BAD_SESSION naming `field` — never read as an empty one.
 */
export function decodeSessionToken(text: string, secret: Buffer, field = "RS-Session"): SessionToken {
  const token: Record<string, number> = {};
  for (const [node, [hlc, mac]] of Object.entries(parseSigned(text, field))) {
    if (!macEqual(mac, entryMac(secret, node, hlc))) {
      throw storeErrors.create(
        "RS_ERR_STORE_BAD_SESSION",
        `${field}: the entry for ${node} is not signed by this planet's store (altered, or from another planet)`,
      );
    }
    token[node] = hlc;
  }
  return token;
}

/**
 * What a client does with the token of each answer: merges it into the one it keeps,
 * without the secret, per node keeping the later of the two signed entries unchanged.
 * Checks only the shape (a malformed token is RS_ERR_STORE_BAD_SESSION naming `field`).
 */
export function mergeEncodedSessionTokens(kept: string | undefined, received: string, field = "RS-Session"): string {
  const b = parseSigned(received, field);
  if (kept === undefined) return Buffer.from(JSON.stringify(b)).toString("base64url");
  const merged = mergeBy(parseSigned(kept, field), b, (e) => e[0]);
  return Buffer.from(JSON.stringify(merged)).toString("base64url");
}

/** Checks a token's shape (not its MACs). */
function parseSigned(text: string, field: string): SignedEntries {
  const bad = (why: string) => storeErrors.create("RS_ERR_STORE_BAD_SESSION", `${field}: ${why}`);
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
  const signed: SignedEntries = {};
  for (const [node, entry] of entries) {
    if (!entryNameRe.test(node)) throw bad(`names an invalid node id ${JSON.stringify(node.slice(0, 70))}`);
    if (!Array.isArray(entry) || entry.length !== 2) throw bad(`the entry for ${node} is not [hlc, signature]`);
    const [hlc, mac] = entry as unknown[];
    if (typeof hlc !== "number" || !Number.isSafeInteger(hlc) || hlc < 0) {
      throw bad(`the entry for ${node} is not a non-negative safe integer`);
    }
    if (typeof mac !== "string" || !macRe.test(mac)) throw bad(`the entry for ${node} carries no signature`);
    signed[node] = [hlc, mac];
  }
  return signed;
}

/**
 * The token that covers both: per node, the later HLC. Over the entry limit, the oldest
 * entries go: a write that old has long reached every replica, so forgetting it costs
 * nothing in practice, while a token that grew without bound would be refused.
 */
export function mergeSessionTokens(a: SessionToken | undefined, b: SessionToken | undefined): SessionToken {
  if (!a || Object.keys(a).length === 0) return b ?? {};
  if (!b || Object.keys(b).length === 0) return a;
  return mergeBy(a, b, (h) => h);
}

function mergeBy<V>(a: Readonly<Record<string, V>>, b: Readonly<Record<string, V>>, hlcOf: (v: V) => number) {
  const out: Record<string, V> = { ...a };
  for (const [node, v] of Object.entries(b)) {
    if (!Object.hasOwn(out, node) || hlcOf(out[node]) < hlcOf(v)) out[node] = v;
  }
  const entries = Object.entries(out);
  if (entries.length <= sessionTokenEntriesMax) return out;
  entries.sort((x, y) => hlcOf(y[1]) - hlcOf(x[1]));
  return Object.fromEntries(entries.slice(0, sessionTokenEntriesMax));
}
