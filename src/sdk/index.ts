// sdk: what an app author imports. `startInstance` gives an app its place on the planet:
// it registers the instance in its site's registry (a lease kept alive by heartbeats),
// marks it ready once it listens, and on SIGTERM drains it (out of rotation, requests in
// flight finish, lease removed) before it exits. Sessions live in the store (the cookie
// holds an id and the store's session token), an Idempotency-Key makes a mutation apply
// once and answer the same, and `countsMap` is a cart-like value over the store's CRDT map.
// Plain `node:http` handlers use them directly; see examples/shop. See docs/discovery.md
// and docs/shop.md.
export * as sdkConstants from "./constants.ts";
export { type CountsMap, type CountsValue, countsMap, decodeCounts } from "./counts-map.ts";
export { appEnvironment } from "./environment.ts";
export { sdkErrors } from "./errors.ts";
export {
  errorAnswer,
  type JsonAnswer,
  parseCookies,
  readBodyText,
  readJsonBody,
  sendJson,
  servedHeaderNames,
} from "./http-kit.ts";
export {
  createIdempotency,
  type Idempotency,
  type IdempotencyInit,
  type IdempotentRun,
  idempotencyBase,
  idempotencyKeyOf,
} from "./idempotency.ts";
export { type Instance, type StartInstanceOptions, startInstance } from "./instance.ts";
export {
  type CookieCarrier,
  createSessions,
  type RequestSession,
  type SessionRecord,
  type Sessions,
  type SessionsInit,
  sessionIdFor,
} from "./session.ts";
