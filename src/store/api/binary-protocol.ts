// The store's binary client protocol, negotiated on the HTTP port: a connection whose first
// bytes are `binaryPreface` speaks it, any other is HTTP/1.1 (a request line never starts
// with NUL). After the preface come frames as on the node wire (src/store/wire/framing.ts: a
// 4-byte big-endian length and a msgpack body), in both directions, many in flight at once:
//
//   request  {i, m, k, a?, b?, o?, c?, t?, ms?, ack?}
//     i   correlation id, an integer in 1..2^31-1 chosen by the client (unique among its
//         requests in flight on the connection); the reply carries it back
//     m   "GET" | "PUT" | "POST" | "DELETE", with a (the POST action) and b (the JSON body)
//         exactly as the HTTP API takes them, so both protocols validate alike
//     k   the key; o the op id (Idempotency-Key), c the consistency level, t the session
//         token, ms the timeout (RS-Timeout-Ms): the HTTP headers of the same name
//     ack true: answer a mutation without the value (key, exists, duplicate only)
//   reply    {i, s, b, t?, o?}  s the HTTP status the same request would get, b its JSON
//         body (errors: {error: {code, message, definite, detail}}), t the session token,
//         o the op id a mutation was applied under
//
// Replies come in the order requests finish, not the order they were sent. A frame the
// server cannot read (not msgpack, over the bound, not a request map, no usable id) is
// answered with a reply of id 0 naming the problem, and the connection is closed: after a
// broken frame nothing on it can be trusted. There is no login: like the HTTP API, the
// protocol trusts the network it is served on, and session tokens are signed and checked
// against the planet secret the same way.

/** The first bytes a binary client sends: NUL, "RSB", version 1. */
export const binaryPreface = Buffer.from([0x00, 0x52, 0x53, 0x42, 0x01]);

export const binaryMethods = ["GET", "PUT", "POST", "DELETE"] as const;
export type BinaryMethod = (typeof binaryMethods)[number];

export type BinaryRequest = {
  readonly i: number;
  readonly m: BinaryMethod;
  readonly k: string;
  readonly a?: string;
  readonly b?: string;
  readonly o?: string;
  readonly c?: string;
  readonly t?: string;
  readonly ms?: number;
  readonly ack?: boolean;
};

export type BinaryReply = {
  readonly i: number;
  readonly s: number;
  readonly b: Record<string, unknown>;
  readonly t?: string;
  readonly o?: string;
};

/** The largest correlation id; 0 is the connection's own (a reply about the stream, not a request). */
export const binaryIdMax = 2 ** 31 - 1;

const requestFields = new Set(["i", "m", "k", "a", "b", "o", "c", "t", "ms", "ack"]);

/**
 * Checks the shape of a decoded request frame; returns the request, or a text naming the
 * bad field (with the id when it is usable, so the reply can still be correlated).
 */
export function checkBinaryRequest(
  frame: unknown,
): { ok: true; request: BinaryRequest } | { ok: false; id: number; problem: string } {
  if (typeof frame !== "object" || frame === null || Array.isArray(frame) || frame instanceof Uint8Array) {
    return { ok: false, id: 0, problem: "a request frame must be a msgpack map" };
  }
  const f = frame as Record<string, unknown>;
  const id = f.i;
  if (!Number.isInteger(id) || (id as number) < 1 || (id as number) > binaryIdMax) {
    return { ok: false, id: 0, problem: `i: the correlation id must be an integer in 1..${binaryIdMax}` };
  }
  const i = id as number;
  for (const name of Object.keys(f)) {
    if (!requestFields.has(name))
      return { ok: false, id: i, problem: `${JSON.stringify(name.slice(0, 40))}: unknown field` };
  }
  if (!(binaryMethods as readonly unknown[]).includes(f.m)) {
    return { ok: false, id: i, problem: `m: must be one of ${binaryMethods.join(", ")}` };
  }
  if (typeof f.k !== "string") return { ok: false, id: i, problem: "k: the key must be a string" };
  for (const name of ["a", "b", "o", "c", "t"] as const) {
    if (f[name] !== undefined && typeof f[name] !== "string") {
      return { ok: false, id: i, problem: `${name}: must be a string` };
    }
  }
  if (f.ms !== undefined && !Number.isInteger(f.ms)) return { ok: false, id: i, problem: "ms: must be an integer" };
  if (f.ack !== undefined && typeof f.ack !== "boolean") return { ok: false, id: i, problem: "ack: must be a boolean" };
  return { ok: true, request: f as unknown as BinaryRequest };
}
