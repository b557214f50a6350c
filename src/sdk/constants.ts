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
