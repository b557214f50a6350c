// Defaults and limits of the checker. Every per-user table has a maximum, so a history of
// any length is checked in bounded memory; hitting a maximum makes the verdict "not
// proven", never a silent truncation.
import { assert } from "../core/index.ts";

/** The history format this checker reads (the header's `version`). */
export const historyVersion = 1;
export const historyFormatName = "redshirt-history";

/** A longer line is refused (names the line): no record of ours comes near it. */
export const lineBytesMax = 1_048_576;
/** Read size of the streaming reader. */
export const readChunkBytes = 65_536;

/** Requests of one op kept in its `tries` (a longer list is cut by the writer, refused by the reader). */
export const triesPerOpMax = 64;
/** Characters of one try's `result`. */
export const tryResultCharsMax = 300;

/** Virtual users one check holds state for. */
export const usersMax = 200_000;
/** Distinct cart items per user. */
export const cartItemsPerUserMax = 1_000;
/** Orders (acknowledged or in doubt) remembered per user. */
export const ordersPerUserMax = 10_000;
/** Fault records in one history. */
export const faultsMax = 10_000;
/**
 * Possible quantities tracked for one cart item while mutations are in doubt; past this the
 * item is unconstrained until the next acknowledged set/remove/checkout (counted in the
 * report as unverifiable item reads).
 */
export const possibleQuantitiesMax = 64;
/** Anomalies kept in full in a verdict; the rest are counted by kind. */
export const anomaliesListedMax = 1_000;

/** Below these a run proves nothing: the verdict is "not proven". */
export const opsMinDefault = 1_000;
export const faultsMinDefault = 1;
/** A site loss whose users waited longer than this (or were never served again) fails the check. */
export const recoveryMsMaxDefault = 5_000;
/**
 * After a fault on a site ends, DNS answers and clients' caches take a while to steer users
 * back; requests served elsewhere in this window are not counted as non-nearest.
 */
export const faultSettleMsDefault = 5_000;
/** Wall-clock budget of one check; past it the verdict is "not proven". */
export const checkTimeMsMaxDefault = 30 * 60_000;
/** Heap the check may use before it stops with "not proven". */
export const heapBytesMaxDefault = 1_536 * 1_048_576;
/** The time and heap limits are looked at once per this many ops. */
export const limitCheckEveryOps = 1_000;
/** Progress is reported at most this often. */
export const progressIntervalMs = 1_000;

/** Latency histograms, in microseconds: 1 µs to 1 h at 3 significant digits. */
export const latencyUsMax = 3_600_000_000;
export const latencySignificantDigits = 3;

/** The report's timeline: buckets at least this wide, and at most this many (wider for long runs). */
export const timelineBucketMsMin = 1_000;
export const timelineBucketsMax = 1_800;
/** Sites and regions the timeline draws; a history naming more gets the first ones. */
export const timelineNamesMax = 64;
/** The timeline's latency quantiles: logarithmic bins, each this much wider than the last, from this. */
export const latencyBinRatio = 1.02;
export const latencyBinsMinMs = 0.01;
/** Anomalies the HTML report lists in full (all are counted). */
export const reportAnomaliesListedMax = 200;

assert(possibleQuantitiesMax >= 2, "an in-doubt mutation needs at least two possibilities");
assert(readChunkBytes <= lineBytesMax, "a chunk fits in one line's budget");
assert(anomaliesListedMax >= 1, "a failing verdict lists at least one anomaly");
assert(faultsMinDefault >= 1, "a run without faults proves nothing about faults");
assert(timelineBucketMsMin % 1_000 === 0, "timeline buckets are whole seconds");
assert(latencyBinRatio > 1 && latencyBinRatio <= 1.05, "a latency bin is within 5 % of its values");
