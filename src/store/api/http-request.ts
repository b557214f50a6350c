// Turns an HTTP request's parts into a typed store operation, or a 4xx error that names the
// bad field. Pure functions with no I/O, so they can be tested and fuzzed on their own.
// Everything the engine receives has passed through here: a key of 1..1024 UTF-8 bytes, a
// known consistency, an op id of visible ASCII, a mutation of exactly the shape `Mutation`
// promises, and values that encode to at most 1 MiB of JSON and nest at most 64 deep.
import { type Consistency, consistencyLevels } from "../../topology/index.ts";
import type { MembershipChange, Mutation, SessionToken } from "../api-types.ts";
import {
  fieldBytesMax,
  itemsPerRequestMax,
  keyBytesMax,
  opIdBytesMax,
  requestTimeoutMsMax,
  ttlSMax,
  valueBytesMax,
  valueDepthMax,
} from "../constants.ts";
import { storeErrors } from "../errors.ts";
import { decodeSessionToken } from "../replication/session-encoding.ts";
import { storeHttpErrors } from "./http-errors.ts";

/** The mutations a `POST /v1/kv/{key}/{action}` names; PUT is `set`, DELETE is `del`. */
export const postActions = ["incr", "add", "remove", "mset", "mincr", "mdel"] as const;
export type PostAction = (typeof postActions)[number];

export type Target =
  | { readonly route: "kv"; readonly key: string; readonly action: PostAction | undefined }
  | { readonly route: "cluster" }
  | { readonly route: "healthz" }
  | { readonly route: "metrics" }
  | { readonly route: "trees" }
  | { readonly route: "membership" }
  | { readonly route: "clock-skew" };

const allowed: Record<string, string> = {
  kv: "GET, PUT, DELETE",
  kvAction: "POST",
  cluster: "GET",
  healthz: "GET",
  metrics: "GET",
  trees: "GET",
  membership: "GET, POST",
  "clock-skew": "GET, POST",
};

function bad(text: string) {
  return storeErrors.create("RS_ERR_STORE_BAD_REQUEST", text);
}

/** What the Allow header of a route says, for a 405. */
export function allowedMethods(target: Target): string {
  return target.route === "kv" ? allowed[target.action ? "kvAction" : "kv"] : allowed[target.route];
}

export function methodAllowed(method: string, target: Target): boolean {
  return allowedMethods(target).split(", ").includes(method);
}

/** Splits the request target into the route and the decoded key; throws for a path it does not know. */
export function parseTarget(path: string): Target {
  if (path === "/healthz") return { route: "healthz" };
  if (path === "/metrics") return { route: "metrics" };
  if (path === "/v1/cluster") return { route: "cluster" };
  if (path === "/v1/trees") return { route: "trees" };
  if (path === "/v1/membership") return { route: "membership" };
  if (path === "/v1/admin/clock-skew") return { route: "clock-skew" };
  if (!path.startsWith("/v1/kv/")) throw storeHttpErrors.create("RS_ERR_STORE_NO_ROUTE", path.slice(0, 200));
  const rest = path.slice("/v1/kv/".length);
  const slash = rest.indexOf("/");
  const rawKey = slash < 0 ? rest : rest.slice(0, slash);
  const actionText = slash < 0 ? undefined : rest.slice(slash + 1);
  let action: PostAction | undefined;
  if (actionText !== undefined) {
    if (!(postActions as readonly string[]).includes(actionText)) {
      throw storeHttpErrors.create(
        "RS_ERR_STORE_NO_ROUTE",
        `${path.slice(0, 200)} (after the key comes one of ${postActions.join(", ")}; encode a '/' in a key as %2F)`,
      );
    }
    action = actionText as PostAction;
  }
  return { route: "kv", key: decodeKey(rawKey), action };
}

/** The body of `POST /v1/membership`: {op: join|leave, node} or {op: replace, old, node}. */
export function parseMembershipChange(body: string): MembershipChange {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw bad("body: not JSON; send {op, node} or {op: replace, old, node}");
  }
  const r = (raw ?? {}) as { op?: unknown; node?: unknown; old?: unknown };
  const id = (v: unknown, field: string): string => {
    if (typeof v !== "string" || v.length === 0 || v.length > 100) throw bad(`${field}: a store node id is missing`);
    return v;
  };
  if (r.op === "join" || r.op === "leave") return { op: r.op, node: id(r.node, "node") };
  if (r.op === "replace") return { op: "replace", old: id(r.old, "old"), node: id(r.node, "node") };
  throw bad(`op: ${JSON.stringify(String(r.op)).slice(0, 40)}; one of join, leave, replace`);
}

function decodeKey(raw: string): string {
  if (raw.length === 0) throw bad("key: must not be empty");
  // Percent-encoding at most triples the length, so anything longer is over the limit anyway.
  if (raw.length > keyBytesMax * 3) throw storeErrors.create("RS_ERR_STORE_KEY_TOO_LARGE", `${raw.length} characters`);
  let key: string;
  try {
    key = decodeURIComponent(raw);
  } catch {
    throw bad("key: malformed percent-encoding or not UTF-8; percent-encode the key's UTF-8 bytes");
  }
  const bytes = Buffer.byteLength(key);
  if (bytes > keyBytesMax) throw storeErrors.create("RS_ERR_STORE_KEY_TOO_LARGE", `${bytes} bytes`);
  return key;
}

/** The consistency level from `?consistency=` or the `RS-Consistency` header (they must agree), else the default. */
export function parseConsistency(
  query: URLSearchParams,
  header: string | undefined,
  fallback: Consistency,
): Consistency {
  for (const name of query.keys()) {
    if (name !== "consistency")
      throw bad(`query parameter ${JSON.stringify(name.slice(0, 100))}: unknown; only consistency is taken`);
  }
  const fromQuery = query.getAll("consistency");
  if (fromQuery.length > 1) throw bad("consistency: given more than once");
  const q = fromQuery[0];
  if (q !== undefined && header !== undefined && q !== header) {
    throw bad(
      `consistency: the query says ${JSON.stringify(q.slice(0, 40))}, RS-Consistency says ${JSON.stringify(header.slice(0, 40))}`,
    );
  }
  const level = q ?? header;
  if (level === undefined) return fallback;
  if (!(consistencyLevels as readonly string[]).includes(level)) {
    throw storeErrors.create("RS_ERR_STORE_BAD_CONSISTENCY", JSON.stringify(level.slice(0, 40)));
  }
  return level as Consistency;
}

const opIdRe = /^[\x21-\x7e]+$/;

/** The op id of a mutation: the `Idempotency-Key` header, or undefined when absent. */
export function parseOpId(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (header.length === 0 || header.length > opIdBytesMax || !opIdRe.test(header)) {
    throw bad(`Idempotency-Key: must be 1..${opIdBytesMax} visible ASCII characters (a UUID is a good choice)`);
  }
  return header;
}

/** The `RS-Timeout-Ms` header: how long the engine may work on the request. */
export function parseTimeoutMs(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const n = /^\d{1,9}$/.test(header) ? Number(header) : Number.NaN;
  if (!(n >= 1 && n <= requestTimeoutMsMax))
    throw bad(`RS-Timeout-Ms: must be an integer in 1..${requestTimeoutMsMax}`);
  return n;
}

/** The `RS-Session` header, if any, its signatures checked against the planet secret. */
export function parseToken(header: string | undefined, secret: Buffer): SessionToken | undefined {
  return header === undefined || header === "" ? undefined : decodeSessionToken(header, secret);
}

/** Parses a mutation's JSON body; values are measured again only when the body itself is over the value limit. */
export function parseMutation(method: string, action: PostAction | undefined, body: string): Mutation {
  if (method === "DELETE") return { kind: "del" };
  const doc = parseJsonObject(body);
  const bigBody = Buffer.byteLength(body) > valueBytesMax;
  const ttl = ttlOf(doc);
  let mutation: Mutation;
  if (method === "PUT") {
    only(doc, ["value", "ttlS"]);
    if (!("value" in doc)) throw bad('value: missing; send {"value": <any JSON>}');
    checkValue("value", doc.value, bigBody);
    mutation = { kind: "set", value: doc.value };
  } else if (action === "incr") {
    only(doc, ["by", "ttlS"]);
    mutation = { kind: "incr", by: doc.by === undefined ? 1 : integer("by", doc.by) };
  } else if (action === "add" || action === "remove") {
    only(doc, ["members", "ttlS"]);
    const members = stringList("members", doc.members, valueBytesMax);
    mutation = action === "add" ? { kind: "sadd", members } : { kind: "srem", members };
  } else if (action === "mset" || action === "mincr") {
    only(doc, ["fields", "ttlS"]);
    const fields = fieldObject(doc.fields);
    if (action === "mset") {
      checkValue("fields", fields, bigBody);
      mutation = { kind: "mset", fields };
    } else {
      const counts: Record<string, number> = {};
      for (const [f, v] of Object.entries(fields)) counts[f] = integer(`fields.${f.slice(0, 100)}`, v);
      mutation = { kind: "mincr", fields: counts };
    }
  } else if (action === "mdel") {
    only(doc, ["fields", "ttlS"]);
    mutation = { kind: "mdel", fields: stringList("fields", doc.fields, fieldBytesMax) };
  } else {
    throw bad(`${method} takes no mutation here`);
  }
  return ttl === undefined ? mutation : { ...mutation, ttlS: ttl };
}

function parseJsonObject(body: string): Record<string, unknown> {
  if (body.trim() === "") return {};
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw bad(`body: not valid JSON (${(err as Error).message.slice(0, 120)})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw bad("body: must be a JSON object");
  return doc as Record<string, unknown>;
}

function only(doc: Record<string, unknown>, names: readonly string[]): void {
  for (const name of Object.keys(doc)) {
    if (!names.includes(name)) {
      throw bad(`${JSON.stringify(name.slice(0, 100))}: unknown field; this request takes ${names.join(", ")}`);
    }
  }
}

function ttlOf(doc: Record<string, unknown>): number | undefined {
  const ttl = doc.ttlS;
  if (ttl === undefined) return undefined;
  if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > ttlSMax) {
    throw bad(`ttlS: must be an integer number of seconds in 1..${ttlSMax}`);
  }
  return ttl;
}

function integer(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) throw bad(`${field}: must be a safe integer`);
  return v;
}

function stringList(field: string, v: unknown, itemBytesMax: number): string[] {
  if (!Array.isArray(v)) throw bad(`${field}: must be an array of strings`);
  if (v.length === 0) throw bad(`${field}: must name at least one`);
  if (v.length > itemsPerRequestMax) throw bad(`${field}: more than ${itemsPerRequestMax} in one request`);
  let total = 0;
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== "string") throw bad(`${field}[${i}]: must be a string`);
    const bytes = Buffer.byteLength(v[i]);
    if (bytes > itemBytesMax)
      throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `${field}[${i}] is ${bytes} bytes`);
    total += bytes + 3;
  }
  if (total > valueBytesMax) throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `${field}: ${total} bytes`);
  return v as string[];
}

function fieldObject(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad("fields: must be a JSON object");
  const names = Object.keys(v);
  if (names.length === 0) throw bad("fields: must name at least one");
  if (names.length > itemsPerRequestMax) throw bad(`fields: more than ${itemsPerRequestMax} in one request`);
  for (const name of names) {
    if (Buffer.byteLength(name) > fieldBytesMax) {
      throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `a field name is longer than ${fieldBytesMax} bytes`);
    }
  }
  return v as Record<string, unknown>;
}

/**
 * A value must nest at most valueDepthMax deep, hold only finite numbers (JSON.parse turns
 * 1e999 into Infinity, which would come back as null) and encode to at most 1 MiB.
 */
function checkValue(field: string, value: unknown, measure: boolean): void {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === "number" && !Number.isFinite(v)) throw bad(`${field}: holds a number out of range`);
    if (typeof v !== "object" || v === null) continue;
    if (depth > valueDepthMax) throw bad(`${field}: nests deeper than ${valueDepthMax}`);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  if (measure) {
    const bytes = Buffer.byteLength(JSON.stringify(value));
    if (bytes > valueBytesMax) throw storeErrors.create("RS_ERR_STORE_VALUE_TOO_LARGE", `${field} is ${bytes} bytes`);
  }
}
