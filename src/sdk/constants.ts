// Defaults of the app SDK, and how they relate to the registry's timing.

import { registryConstants } from "../cattle/index.ts";
import { assert } from "../core/index.ts";

/** The variables the supervisor (or a unit file, or a pod spec) sets for an instance. */
export const envNames = {
  instanceId: "REDSHIRT_INSTANCE_ID",
  site: "REDSHIRT_SITE",
  planet: "REDSHIRT_PLANET",
  version: "REDSHIRT_VERSION",
  host: "HOST",
  port: "PORT",
} as const;

export const planetFileDefault = "examples/planet.yaml";
export const versionDefault = "0";
export const hostDefault = "127.0.0.1";

/**
 * After an instance marks itself draining it keeps serving this long before it stops
 * accepting: every gateway reads the registry (one poll and a read) or sees /healthz fail
 * in that time, so no request is sent to a closed listener.
 */
export const drainNoticeMsDefault = 1_000;
/** Requests in flight get this long to finish once the listener closed; then connections are cut. */
export const drainTimeoutMsDefault = 10_000;

assert(
  drainNoticeMsDefault >= 2 * registryConstants.pollMsDefault + 250,
  "a gateway polls the registry at least twice during the drain notice",
);
assert(drainTimeoutMsDefault >= drainNoticeMsDefault, "requests get longer to finish than the notice");

/** The largest request body an SDK handler reads (a cart change or a login is well under 1 KiB). */
export const bodyBytesMax = 64 * 1024;
/** The cookie that carries `<sessionId>.<storeSessionToken>`. */
export const sessionCookieName = "rs_session";
/** How long a session lives in the store without a new login. */
export const sessionTtlSDefault = 86_400;
/** Key prefix of session records in the store. */
export const sessionKeyPrefix = "session:";
/** Key prefix of the answers kept for idempotency keys. */
export const idempotencyKeyPrefix = "idem:";
/** An Idempotency-Key is 1..this many of [A-Za-z0-9._:-]. */
export const idempotencyKeyCharsMax = 128;
/** A session id: 22 base64url characters of randomness or of a hash of the login's key. */
export const sessionIdChars = 22;
