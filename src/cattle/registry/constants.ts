// Defaults and limits of the instance registry. The relations the design promises (a lease
// survives a lost heartbeat or two; a change is seen within a second; cleanup never races
// a live holder) are asserted at load, so a bad edit fails at start.
import { assert } from "../../core/index.ts";
import type { Consistency } from "../../topology/index.ts";

/** The store key of a site's registry: a map, field = instance id, value = the lease. */
export const registryKeyPrefix = "_rs/registry/";
/** The store key of a site's drain set: instance ids the supervisor wants out of rotation. */
export const drainKeyPrefix = "_rs/drain/";

/** How often a holder renews its lease (each renewal increments `beat`). */
export const heartbeatMsDefault = 300;
/** How often a watcher reads its site's registry and drain set. */
export const pollMsDefault = 250;
/** A lease is live while its beat changed within this, on the watcher's own clock. */
export const leaseTtlMsDefault = 1_500;
/** A field unchanged for this many TTLs is removed by the watcher that sees it. */
export const cleanupAfterTtls = 10;
/** At most this many stale fields are removed per poll, so a cleanup burst stays small. */
export const cleanupFieldsPerPollMax = 16;

/**
 * Lease writes and reads use `local-one`: a lease must renew, and a gateway must see its
 * site's instances, even while the site's store has lost a quorum. A stale read costs at
 * most a poll; liveness is judged by beats changing, never by a read being complete.
 */
export const writeConsistency: Consistency = "local-one";
export const readConsistency: Consistency = "local-one";
/** A lease write that takes longer than this is counted failed; the next beat tries again. */
export const writeTimeoutMsDefault = 1_000;
/** A registry read that takes longer than this is counted failed; the last view is kept. */
export const readTimeoutMsDefault = 1_000;

/** Leases of one site a watcher keeps; beyond this the extra fields are ignored and counted. */
export const leasesPerSiteMax = 1_024;
/** Instance ids: 1..128 characters of [A-Za-z0-9._-]. */
export const instanceIdPattern = /^[A-Za-z0-9._-]{1,128}$/;
/** Versions and hosts in a lease are short strings. */
export const leaseStringBytesMax = 256;

// A holder may miss two beats in a row (a GC pause, a slow write) and keep its lease, even
// though a watcher dates each beat at the read before the one that saw it (up to a poll early).
assert(heartbeatMsDefault * 3 + pollMsDefault <= leaseTtlMsDefault, "a lease outlives two missed heartbeats");
// A lease's state change (ready, draining) and a removal reach a watcher within a second.
assert(pollMsDefault * 2 <= 1_000, "a change is seen within a second: the next poll plus a read shorter than a poll");
assert(pollMsDefault < leaseTtlMsDefault, "a watcher reads several times per lease TTL");
assert(cleanupAfterTtls >= 5, "cleanup waits long past expiry");
assert(writeTimeoutMsDefault <= leaseTtlMsDefault, "a hung write cannot outlast a lease unnoticed");
