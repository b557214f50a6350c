// Defaults and limits of the store's data model (CRDT values, clocks, partitions, hash
// trees). Every limit is named here and their relations are asserted at load.
import { assert } from "../core/index.ts";

/** Logical ticks per wall-clock millisecond in a hybrid logical clock (HLC = wallMs * 1024 + logical). */
export const hlcLogicalPerMs = 1024;
/** A remote HLC further ahead of the local wall clock than this is ignored (and counted), so one bad clock cannot drag every node into the future. */
export const hlcMaxDriftMs = 60_000;

/** Largest encoded value of one mutation (a register value, the fields of a map write, the members of a set write). */
export const valueBytesMax = 1024 * 1024;
/** Largest key, in UTF-8 bytes. */
export const keyBytesMax = 1024;
/** Largest set member, in UTF-8 bytes. */
export const memberBytesMax = 1024;
/** Largest map field name, in UTF-8 bytes. */
export const fieldBytesMax = 1024;
/** Largest client op id (idempotency key), in UTF-8 bytes. */
export const opIdBytesMax = 256;
/** Most set members one mutation may add or remove. */
export const membersPerMutationMax = 1024;
/** Most map fields one mutation may write, increment or delete. */
export const fieldsPerMutationMax = 1024;
/** Most live set members or map fields in one key. */
export const elementsPerKeyMax = 65_536;
/** Deepest nesting of a JSON value. */
export const jsonDepthMax = 64;
/** Longest TTL a mutation may set: ten years. */
export const ttlSMax = 10 * 365 * 24 * 3600;

/** Version byte in front of every encoded KeyState; older versions stay decodable. */
export const stateFormatVersion = 1;
/** Buckets per partition in the anti-entropy hash trees. */
export const treeBuckets = 256;

// Year 2200 in ms, plus the longest TTL, still an exact HLC.
assert(Number.isSafeInteger((7_258_118_400_000 + ttlSMax * 1000) * hlcLogicalPerMs), "HLCs stay safe integers");
assert(memberBytesMax <= valueBytesMax && fieldBytesMax <= valueBytesMax, "an element fits in a value");
assert(opIdBytesMax < keyBytesMax, "op ids are shorter than keys");
assert(
  membersPerMutationMax <= elementsPerKeyMax && fieldsPerMutationMax <= elementsPerKeyMax,
  "one mutation fits a key",
);
assert(treeBuckets === 256, "bucketOf takes the top 8 bits of a key hash");
