// The store's HTTP API over a real node:http server on loopback, in front of a real
// one-node engine (test/support/engine-api.ts: its SQLite file, its transport). These tests
// prove the HTTP layer: routes, validation, error mapping, headers, keep-alive, limits.
// Addresses: 127.140.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { Client } from "undici";
import { type EngineFront, type RealEngine, startRealEngine } from "../../../test/support/engine-api.ts";
import { createLogger } from "../../core/index.ts";
import { validatePlanet } from "../../topology/index.ts";
import {
  createStoreHttpServer,
  decodeSessionToken,
  encodeSessionToken,
  mergeEncodedSessionTokens,
  mergeSessionTokens,
  type StoreHttpServer,
  storeConstants,
  storeErrors,
} from "../index.ts";

const host = "127.140.1.1";
const secret = randomBytes(32);
const planet = validatePlanet({
  name: "httptest",
  zone: "httptest.test.",
  sites: [{ name: "a", city: "A", lat: 0, lon: 0, subnet: "127.140.0.0/16" }],
});

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
type Answer = { status: number; headers: Record<string, string | string[] | undefined>; body: any; text: string };

let engine: RealEngine;
let api: EngineFront;
let server: StoreHttpServer;
let client: Client;
const logLines: string[] = [];

async function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer; json?: unknown } = {},
): Promise<Answer> {
  const body = options.json !== undefined ? JSON.stringify(options.json) : options.body;
  const res = await client.request({ method: method as "GET", path, headers: options.headers, body });
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body: parsed, text };
}

before(async () => {
  engine = await startRealEngine({ subnet: "127.140.0.0/16", site: "a" });
  api = engine.front("a-store1");
  const logger = createLogger({}, { write: (line) => logLines.push(line), level: "warn" });
  server = createStoreHttpServer(api, { host, port: 0, logger, nodeId: "a-store1", planet, secret });
  await server.start();
  await server.start();
  client = new Client(`http://${host}:${server.address.port}`, { keepAliveTimeout: 2000 });
});

after(async () => {
  await client?.close();
  await server?.stop();
  await engine?.stop();
});

describe("store http", () => {
  test("store http - a register is written with PUT and read back with GET, with a session token", async () => {
    const put = await call("PUT", "/v1/kv/greeting", { json: { value: { hello: ["world", 1] } } });
    assert.equal(put.status, 200);
    assert.deepEqual(put.body, {
      key: "greeting",
      exists: true,
      type: "reg",
      value: { hello: ["world", 1] },
      duplicate: false,
    });
    assert.equal(put.headers["rs-node"], "a-store1");
    const token = put.headers["rs-session"] as string;
    assert.ok(decodeSessionToken(token, secret)["a-store1"] > 0);
    const get = await call("GET", "/v1/kv/greeting", { headers: { "rs-session": token } });
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, { key: "greeting", exists: true, type: "reg", value: { hello: ["world", 1] } });
    // The read's token covers the write's even though the engine returned none for the read.
    assert.equal(get.headers["rs-session"], token);
    assert.deepEqual(api.reads.at(-1)?.token, decodeSessionToken(token, secret));
    assert.equal(api.reads.at(-1)?.consistency, "local-quorum");
  });

  test("store http - each endpoint sends its one mutation kind to the engine", async () => {
    const cases: Array<[string, string, unknown, unknown]> = [
      ["POST", "/v1/kv/c1/incr", { by: 5, ttlS: 60 }, { kind: "incr", by: 5, ttlS: 60 }],
      ["POST", "/v1/kv/c1/incr", undefined, { kind: "incr", by: 1 }],
      ["POST", "/v1/kv/s1/add", { members: ["x", "y"] }, { kind: "sadd", members: ["x", "y"] }],
      ["POST", "/v1/kv/s1/remove", { members: ["x"] }, { kind: "srem", members: ["x"] }],
      ["POST", "/v1/kv/m1/mset", { fields: { a: "1", b: [2] } }, { kind: "mset", fields: { a: "1", b: [2] } }],
      ["POST", "/v1/kv/m1/mincr", { fields: { n: 3 } }, { kind: "mincr", fields: { n: 3 } }],
      ["POST", "/v1/kv/m1/mdel", { fields: ["a"] }, { kind: "mdel", fields: ["a"] }],
      ["DELETE", "/v1/kv/s1", undefined, { kind: "del" }],
    ];
    for (const [method, path, json, mutation] of cases) {
      const r = await call(method, path, { json });
      assert.equal(r.status, 200, `${method} ${path}: ${r.text}`);
      assert.deepEqual(api.mutations.at(-1)?.mutation, mutation, `${method} ${path}`);
    }
    assert.deepEqual((await call("GET", "/v1/kv/c1")).body.value, 6);
    assert.deepEqual((await call("GET", "/v1/kv/m1")).body.value, { b: [2], n: 3 });
    const gone = await call("GET", "/v1/kv/s1");
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, "RS_ERR_STORE_NOT_FOUND");
  });

  test("store http - a key is one percent-decoded path segment and may hold any character", async () => {
    const key = "user/42 ?#%é😀\u0000";
    const r = await call("PUT", `/v1/kv/${encodeURIComponent(key)}`, { json: { value: 1 } });
    assert.equal(r.status, 200);
    assert.equal(r.body.key, key);
    assert.equal(api.mutations.at(-1)?.key, key);
    assert.equal((await call("GET", `/v1/kv/${encodeURIComponent(key)}`)).body.value, 1);
  });

  test("store http - the op id comes from Idempotency-Key, and a retry with it applies once", async () => {
    const headers = { "idempotency-key": "retry-me-1" };
    const first = await call("POST", "/v1/kv/once/incr", { json: { by: 10 }, headers });
    const again = await call("POST", "/v1/kv/once/incr", { json: { by: 10 }, headers });
    assert.equal(first.body.value, 10);
    assert.equal(first.body.duplicate, false);
    assert.equal(again.body.value, 10);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.headers["idempotency-key"], "retry-me-1");
    // Without the header the server makes one up and says which.
    const made = await call("POST", "/v1/kv/once/incr", { json: { by: 1 } });
    assert.match(made.headers["idempotency-key"] as string, /^[0-9a-f-]{36}$/);
    assert.equal(api.mutations.at(-1)?.opId, made.headers["idempotency-key"]);
  });

  test("store http - consistency comes from the query or RS-Consistency, and timeouts from RS-Timeout-Ms", async () => {
    await call("GET", "/v1/kv/x?consistency=global");
    assert.equal(api.reads.at(-1)?.consistency, "global");
    await call("GET", "/v1/kv/x", { headers: { "rs-consistency": "local-one", "rs-timeout-ms": "250" } });
    assert.equal(api.reads.at(-1)?.consistency, "local-one");
    assert.equal(api.reads.at(-1)?.timeoutMs, 250);
    await call("PUT", "/v1/kv/x?consistency=all", { json: { value: 1 }, headers: { "rs-consistency": "all" } });
    assert.equal(api.mutations.at(-1)?.consistency, "all");
  });

  test("store http - bad requests get a 4xx whose message names the problem", async () => {
    const expect = async (r: Promise<Answer>, status: number, code: string, pattern: RegExp) => {
      const a = await r;
      assert.equal(a.status, status, a.text);
      assert.equal(a.body.error.code, code, a.text);
      assert.match(a.body.error.message, pattern);
    };
    await expect(call("PUT", "/v1/kv/k", { body: "{nope" }), 400, "RS_ERR_STORE_BAD_REQUEST", /body: not valid JSON/);
    await expect(
      call("PUT", "/v1/kv/k", { json: [1] }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /body: must be a JSON object/,
    );
    await expect(call("PUT", "/v1/kv/k", { json: {} }), 400, "RS_ERR_STORE_BAD_REQUEST", /value: missing/);
    await expect(
      call("PUT", "/v1/kv/k", { json: { value: 1, vlaue: 2 } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /"vlaue": unknown field/,
    );
    await expect(call("POST", "/v1/kv/k/incr", { json: { by: "2" } }), 400, "RS_ERR_STORE_BAD_REQUEST", /by: must be/);
    await expect(call("POST", "/v1/kv/k/incr", { json: { by: 1.5 } }), 400, "RS_ERR_STORE_BAD_REQUEST", /by:/);
    await expect(
      call("POST", "/v1/kv/k/add", { json: { members: ["a", 2] } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /members\[1\]: must be a string/,
    );
    await expect(
      call("POST", "/v1/kv/k/mincr", { json: { fields: { a: "x" } } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /fields\.a/,
    );
    await expect(call("PUT", "/v1/kv/k", { json: { value: 1, ttlS: 0 } }), 400, "RS_ERR_STORE_BAD_REQUEST", /ttlS/);
    await expect(
      call("PUT", "/v1/kv/k", { body: '{"value": 1e999}' }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /out of range/,
    );
    const deep = `${"[".repeat(100)}${"]".repeat(100)}`;
    await expect(call("PUT", "/v1/kv/k", { body: `{"value":${deep}}` }), 400, "RS_ERR_STORE_BAD_REQUEST", /nests/);
    await expect(call("GET", "/v1/kv/"), 400, "RS_ERR_STORE_BAD_REQUEST", /key: must not be empty/);
    await expect(call("GET", "/v1/kv/%E0%A4%A"), 400, "RS_ERR_STORE_BAD_REQUEST", /percent-encoding/);
    await expect(call("GET", "/v1/kv/%FF"), 400, "RS_ERR_STORE_BAD_REQUEST", /UTF-8/);
    await expect(call("GET", `/v1/kv/${"k".repeat(1025)}`), 413, "RS_ERR_STORE_KEY_TOO_LARGE", /1025 bytes/);
    await expect(
      call("GET", `/v1/kv/${"k".repeat(1000)}${"%C3%A9".repeat(13)}`),
      413,
      "RS_ERR_STORE_KEY_TOO_LARGE",
      /1026 bytes/,
    );
    await expect(call("GET", "/v1/kv/k?consistency=most"), 400, "RS_ERR_STORE_BAD_CONSISTENCY", /"most"/);
    await expect(
      call("GET", "/v1/kv/k?consistency=all", { headers: { "rs-consistency": "global" } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /consistency: the query says/,
    );
    await expect(call("GET", "/v1/kv/k?consistancy=all"), 400, "RS_ERR_STORE_BAD_REQUEST", /"consistancy": unknown/);
    await expect(
      call("GET", "/v1/kv/k", { headers: { "rs-session": "!!" } }),
      400,
      "RS_ERR_STORE_BAD_SESSION",
      /RS-Session/,
    );
    await expect(
      call("GET", "/v1/kv/k", { headers: { "rs-session": Buffer.from('{"a-store1":-1}').toString("base64url") } }),
      400,
      "RS_ERR_STORE_BAD_SESSION",
      /RS-Session: the entry for a-store1/,
    );
    await expect(
      call("GET", "/v1/kv/k", { headers: { "rs-timeout-ms": "0" } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /RS-Timeout-Ms/,
    );
    await expect(
      call("PUT", "/v1/kv/k", { json: { value: 1 }, headers: { "idempotency-key": "x".repeat(129) } }),
      400,
      "RS_ERR_STORE_BAD_REQUEST",
      /Idempotency-Key/,
    );
    await expect(call("GET", "/v2/kv/k"), 404, "RS_ERR_STORE_NO_ROUTE", /No such endpoint/);
    await expect(call("POST", "/v1/kv/k/frobnicate"), 404, "RS_ERR_STORE_NO_ROUTE", /%2F/);
    const wrongMethod = await call("POST", "/v1/kv/k", { json: { value: 1 } });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, "GET, PUT, DELETE");
    const wrongType = await call("POST", "/v1/kv/greeting/add", { json: { members: ["a"] } });
    assert.equal(wrongType.status, 409);
    assert.equal(wrongType.body.error.code, "RS_ERR_STORE_WRONG_TYPE");
  });

  test("store http - values over 1 MiB are refused with 413, bodies over the limit without reading them", async () => {
    const big = "x".repeat(storeConstants.valueBytesMax + 10);
    const a = await call("PUT", "/v1/kv/big", { json: { value: big } });
    assert.equal(a.status, 413);
    assert.equal(a.body.error.code, "RS_ERR_STORE_VALUE_TOO_LARGE");
    const justOver = "y".repeat(storeConstants.valueBytesMax - 10);
    const b = await call("PUT", "/v1/kv/big", { json: { value: [justOver, "zzzzzzzzzzzzzzzzzzz"] } });
    assert.equal(b.status, 413, "the value is measured, not only the body");
    const c = await call("PUT", "/v1/kv/big", { body: Buffer.alloc(storeConstants.httpBodyBytesMax + 1, 32) });
    assert.equal(c.status, 413);
    assert.equal(c.headers.connection, "close");
    const ok = await call("PUT", "/v1/kv/big", { json: { value: "z".repeat(storeConstants.valueBytesMax - 100) } });
    assert.equal(ok.status, 200);
  });

  test("store http - engine errors keep their status and code; anything else is a logged 500 without details", async () => {
    api.failWith = () => storeErrors.create("RS_ERR_STORE_CONSISTENCY", "1 of 2 acks");
    const r = await call("PUT", "/v1/kv/k", { json: { value: 1 } });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, "RS_ERR_STORE_CONSISTENCY");
    assert.equal(r.headers["retry-after"], "1");
    api.failWith = () => new TypeError("secret internals at /srv/engine.ts:12");
    const before = logLines.length;
    const crash = await call("GET", "/v1/kv/k");
    api.failWith = undefined;
    assert.equal(crash.status, 500);
    assert.deepEqual(crash.body, { error: { message: "Internal error; the node logged the cause" } });
    assert.doesNotMatch(crash.text, /secret/);
    assert.equal(logLines.length, before + 1);
    assert.match(logLines.at(-1)!, /secret internals/);
  });

  test("store http - healthz, metrics and the cluster view", async () => {
    const h = await call("GET", "/healthz");
    assert.equal(h.status, 200);
    assert.equal(h.body.node, "a-store1");
    api.ok = false;
    assert.equal((await call("GET", "/healthz")).status, 503);
    api.ok = true;
    const m = await call("GET", "/metrics");
    assert.equal(m.status, 200);
    assert.match(String(m.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.match(m.text, /redshirt_store_commits_total \d+/, "the engine's own metrics");
    assert.match(m.text, /rs_store_http_requests_total\{route="GET kv",status="200"\} \d+/);
    const c = await call("GET", "/v1/cluster");
    assert.equal(c.status, 200);
    assert.equal(c.body.planet, "httptest");
    assert.equal(c.body.site, "a");
    assert.equal(c.body.partitions, planet.store.partitions);
    assert.equal(c.body.rf, 3);
    assert.deepEqual(c.body.sites[0].nodes[0], { id: "a-store1", host: "127.140.1.1", port: planet.ports.store });
  });

  test("store http - one keep-alive connection carries many requests, 4xx answers included", async () => {
    const single = new Client(`http://${host}:${server.address.port}`, { pipelining: 1, connections: 1 } as never);
    let connects = 0;
    single.on("connect", () => connects++);
    try {
      for (let i = 0; i < 20; i++) {
        const res = await single.request({ method: "GET", path: i % 2 ? "/v1/kv/nope?consistency=bad" : "/healthz" });
        await res.body.text();
      }
    } finally {
      await single.close();
    }
    assert.equal(connects, 1);
  });

  test("store http - an altered, forged or unsigned session token is refused with RS_ERR_STORE_BAD_SESSION, and nothing is done", async () => {
    const put = await call("PUT", "/v1/kv/signed", { json: { value: 1 }, headers: { "idempotency-key": "signed-1" } });
    const token = put.headers["rs-session"] as string;
    const signed = JSON.parse(Buffer.from(token, "base64url").toString()) as Record<string, [number, string]>;
    const [hlc, mac] = signed["a-store1"];
    const tokenOf = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const refused = [
      tokenOf({ "a-store1": [hlc + 1, mac] }), // the HLC moved
      tokenOf({ "a-store1": [hlc, mac.replace(/.$/, (c) => (c === "0" ? "1" : "0"))] }), // one digit of the MAC
      tokenOf({ "a-store2": [hlc, mac] }), // another node's name on it
      tokenOf({ "a-store1": [hlc, mac], "a-store9": [1, mac] }), // a forged entry beside a good one
      encodeSessionToken({ "a-store1": hlc }, randomBytes(32)), // signed with another planet's secret
      tokenOf({ "a-store1": hlc }), // the unsigned tokens of wire version 1
    ];
    const writesBefore = api.mutations.length;
    for (const bad of refused) {
      const answer = await call("PUT", "/v1/kv/signed", { json: { value: 2 }, headers: { "rs-session": bad } });
      assert.equal(answer.status, 400, bad);
      assert.equal(answer.body.error.code, "RS_ERR_STORE_BAD_SESSION", bad);
      assert.match(answer.body.error.message, /RS-Session: the entry for a-store\d/);
      assert.equal(answer.headers["rs-session"], undefined, "a refused token is not answered with a new one");
    }
    assert.equal(api.mutations.length, writesBefore, "no refused request reached the engine");
    assert.equal((await call("GET", "/v1/kv/signed", { headers: { "rs-session": token } })).status, 200);
  });

  test("store http - a session token round-trips through its encoding, and clients merge signed entries as they came", () => {
    const t = { "a-store1": 123, "b-store2": 2 ** 52 };
    assert.deepEqual(decodeSessionToken(encodeSessionToken(t, secret), secret), t);
    const bad = (text: string) => decodeSessionToken(Buffer.from(text).toString("base64url"), secret);
    assert.throws(() => bad('{"__proto__":[1,"00000000000000000000000000000000"]}'), /invalid node id/);
    assert.throws(() => bad("[1]"), /not a session token/);
    assert.throws(() => bad('{"a-store1":[1]}'), /not \[hlc, signature\]/);
    assert.throws(() => bad('{"a-store1":[1,"zz"]}'), /carries no signature/);
    // Merging without the secret: per node the later entry, still signed.
    const one = encodeSessionToken({ "a-store1": 5, "b-store2": 9 }, secret);
    const two = encodeSessionToken({ "a-store1": 7, "c-store3": 1 }, secret);
    assert.deepEqual(decodeSessionToken(mergeEncodedSessionTokens(one, two), secret), {
      "a-store1": 7,
      "b-store2": 9,
      "c-store3": 1,
    });
    assert.deepEqual(decodeSessionToken(mergeEncodedSessionTokens(undefined, two), secret), {
      "a-store1": 7,
      "c-store3": 1,
    });
    assert.throws(
      () => mergeEncodedSessionTokens(one, "%%"),
      (e) => e instanceof Error && /RS-Session: not base64url/.test(e.message),
    );
    // A token never grows past its limit: the oldest entries give way.
    const many = Object.fromEntries(
      Array.from({ length: storeConstants.sessionTokenEntriesMax + 44 }, (_, i) => [`n${i}`, i]),
    );
    const merged = mergeSessionTokens(many, { n0: 10_000 });
    assert.equal(Object.keys(merged).length, storeConstants.sessionTokenEntriesMax);
    assert.equal(merged.n0, 10_000);
    assert.equal(merged.n1, undefined);
    assert.deepEqual(decodeSessionToken(encodeSessionToken(merged, secret), secret), merged);
  });
});

describe("store http fuzz", () => {
  const methods = ["GET", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"] as const;
  const segment = fc.oneof(
    fc.string({ maxLength: 12 }).map(encodeURIComponent),
    fc.constantFrom("incr", "add", "remove", "mset", "mincr", "mdel", "%", "%FF", "%2F", "..", "", "v1", "kv"),
    fc.string({ unit: "binary", maxLength: 8 }).map(encodeURIComponent),
  );
  const key = fc.oneof(
    { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 12 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: segment },
  );
  const anyPath = fc.oneof(
    fc.array(segment, { maxLength: 3 }).map((s) => `/v1/kv/${s.join("/")}`),
    fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join("/")}`),
    fc.constantFrom("/healthz", "/metrics", "/v1/cluster", "/v1/kv", "/"),
  );
  const query = fc.oneof(
    { weight: 6, arbitrary: fc.constant("") },
    {
      weight: 1,
      arbitrary: fc.constantFrom("?consistency=all", "?consistency=", "?consistency=x&consistency=all", "?a=b", "?%zz"),
    },
  );
  // Values of every JSON shape, plus the awkward numbers.
  const json = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(1e308, -0, 2 ** 53, 2 ** 60, "", null, true));
  const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 2 });
  const ttlS = maybe(fc.oneof(fc.integer({ min: -2, max: 10 ** 9 }), fc.double(), fc.string()));
  const int = fc.oneof(fc.integer(), fc.double(), fc.string(), json);
  const strings = fc.oneof(fc.array(fc.string(), { maxLength: 4 }), fc.array(json, { maxLength: 3 }), json);
  const toBody = (doc: Record<string, unknown>) => JSON.stringify(doc);
  // Each endpoint with a body shaped like its own, wrong types inside: that is where
  // validation holes would be.
  const shaped: fc.Arbitrary<readonly [string, string, string]> = fc.oneof(
    fc.tuple(key, maybe(json), ttlS).map(([k, v, t]) => ["PUT", `/v1/kv/${k}`, toBody({ value: v, ttlS: t })] as const),
    fc.tuple(key, maybe(int), ttlS).map(([k, by, t]) => ["POST", `/v1/kv/${k}/incr`, toBody({ by, ttlS: t })] as const),
    fc
      .tuple(fc.constantFrom("add", "remove"), key, strings, ttlS)
      .map(([a, k, m, t]) => ["POST", `/v1/kv/${k}/${a}`, toBody({ members: m, ttlS: t })] as const),
    fc
      .tuple(fc.constantFrom("mset", "mincr"), key, fc.oneof(fc.dictionary(fc.string(), fc.oneof(json, int)), json))
      .map(([a, k, f]) => ["POST", `/v1/kv/${k}/${a}`, toBody({ fields: f })] as const),
    fc.tuple(key, strings).map(([k, f]) => ["POST", `/v1/kv/${k}/mdel`, toBody({ fields: f })] as const),
    fc.tuple(fc.constantFrom("GET", "DELETE"), key).map(([m, k]) => [m, `/v1/kv/${k}`, ""] as const),
  );
  const anyBody = fc.oneof(
    fc.string({ maxLength: 40 }),
    json.map((v) => JSON.stringify(v)),
    fc.constantFrom("", "{", '{"value":', "\u0000", '{"value":1}garbage', "[]"),
  );
  const anything = fc.tuple(fc.constantFrom(...methods), anyPath, anyBody);
  const headerValue = fc.oneof(
    fc.constantFrom("local-one", "local-quorum", "global", "all", "", "ALL"),
    fc.string({ maxLength: 20 }).filter((s) => /^[\x20-\x7e]*$/.test(s)),
    fc
      .dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.double()))
      .map((o) => Buffer.from(JSON.stringify(o)).toString("base64url")),
  );
  const anyHeaders = fc.record(
    {
      "rs-consistency": headerValue,
      "rs-session": headerValue,
      "rs-timeout-ms": fc.oneof(fc.nat().map(String), headerValue),
      "idempotency-key": headerValue,
      "content-type": fc.constantFrom("application/json", "text/plain", "x"),
    },
    { requiredKeys: [] },
  );
  const goodHeaders = fc.record(
    {
      "rs-consistency": fc.constantFrom("local-one", "local-quorum", "global", "all"),
      // Entries a real engine can satisfy: its own node, below its clock. (A token naming a
      // node whose writes never arrived is answered 503 RS_ERR_STORE_STALE, rightly: see the
      // session tests.)
      "rs-session": fc.dictionary(fc.constant("a-store1"), fc.nat()).map((o) => encodeSessionToken(o, secret)),
      "rs-timeout-ms": fc.integer({ min: 1, max: 60_000 }).map(String),
      "idempotency-key": fc.uuid(),
    },
    { requiredKeys: [] },
  );
  // Bad headers are refused before the body is looked at, so most requests carry good ones.
  const headers = fc.oneof({ weight: 3, arbitrary: goodHeaders }, { weight: 1, arbitrary: anyHeaders });
  const request = fc.oneof({ weight: 4, arbitrary: shaped }, { weight: 1, arbitrary: anything });

  test("store http fuzz - random methods, paths, headers and bodies never get a 5xx", async () => {
    const before = logLines.length;
    await fc.assert(
      fc.asyncProperty(request, query, headers, async ([m, p, b], q, h) => {
        let answer: Answer;
        try {
          answer = await call(m, p + q, { headers: h as Record<string, string>, body: m === "GET" ? undefined : b });
        } catch (err) {
          // undici refuses some requests itself (e.g. characters it will not put on the wire).
          if ((err as { code?: string }).code === "UND_ERR_INVALID_ARG") return;
          throw err;
        }
        assert.ok(answer.status < 500, `${m} ${p}${q} -> ${answer.status} ${answer.text}`);
        if (answer.status >= 400) assert.ok(answer.body?.error?.code, `an error names its code: ${answer.text}`);
      }),
      { numRuns: 400, interruptAfterTimeLimit: 20_000, seed: Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    assert.deepEqual(logLines.slice(before), [], "no unexpected error was logged");
  });

  test("store http fuzz - raw garbage on the socket gets a 4xx or a closed connection, and the server lives on", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b)),
          fc
            .tuple(
              fc.constantFrom("GET", "PUT", "POST", "BREW"),
              fc.string({ maxLength: 30 }),
              fc.string({ maxLength: 60 }),
            )
            .map(([m, p, rest]) => Buffer.from(`${m} /v1/kv/${p} HTTP/1.1\r\nHost: x\r\n${rest}\r\n\r\n`)),
          fc.constantFrom(
            Buffer.from(
              "POST /v1/kv/a/incr HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
            Buffer.from("PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{}"),
            Buffer.from(`GET /v1/kv/a HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(40_000)}\r\n\r\n`),
          ),
        ),
        async (bytes) => {
          const status = await rawExchange(bytes);
          assert.ok(status === undefined || status < 500, `answered ${status}`);
        },
      ),
      { numRuns: 150, interruptAfterTimeLimit: 15_000 },
    );
    assert.equal((await call("GET", "/healthz")).status, 200);
  });
});

/** Writes bytes to a fresh connection and returns the status of the first answer, if any. */
function rawExchange(bytes: Buffer): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: server.address.port });
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(statusOf(data));
    }, 150);
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNRESET" || err.code === "EPIPE") return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(statusOf(data));
    });
    socket.write(bytes);
  });
}

function statusOf(data: string): number | undefined {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
  return m ? Number(m[1]) : undefined;
}
