// What a node checks before it takes a client request: that it runs, that the key and the
// consistency level are valid (giving the key's partition), and that it is not over its
// limits of waiting writes and unacknowledged log.
import type { Consistency } from "../../topology/index.ts";
import { storeErrors } from "../errors.ts";
import {
  dedupRowsMax,
  globalTimeoutMsDefault,
  keyBytesMax,
  localTimeoutMsDefault,
  logEntriesMax,
  pendingRequestsMax,
} from "./engine-constants.ts";
import type { NodeContext } from "./node-context.ts";
import { partitionOf } from "./partition.ts";
import { levelReachable } from "./quorum.ts";

const consistencyLevels: ReadonlySet<string> = new Set(["local-one", "local-quorum", "global", "all"]);

export function checkRunning(node: NodeContext): void {
  if (node.state !== "running") throw storeErrors.create("RS_ERR_STORE_SHUTTING_DOWN", node.id);
}

/** Validates a request's key and level; returns the key's partition. */
export function checkKey(node: NodeContext, key: unknown, consistency: unknown): number {
  if (typeof key !== "string" || key.length === 0) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "key must be a non-empty string");
  }
  if (!key.isWellFormed()) {
    throw storeErrors.create("RS_ERR_STORE_BAD_REQUEST", "key holds a lone UTF-16 surrogate (not valid Unicode)");
  }
  if (Buffer.byteLength(key) > keyBytesMax) {
    throw storeErrors.create("RS_ERR_STORE_KEY_TOO_LARGE", `${Buffer.byteLength(key)} bytes`);
  }
  if (typeof consistency !== "string" || !consistencyLevels.has(consistency)) {
    throw storeErrors.create("RS_ERR_STORE_BAD_CONSISTENCY", String(consistency));
  }
  return partitionOf(key, node.planet.store.partitions);
}

export function checkLoad(node: NodeContext): void {
  if (node.pending.length >= pendingRequestsMax) {
    throw storeErrors.create("RS_ERR_STORE_OVERLOADED", `${node.pending.length} writes waiting for replicas`);
  }
  if (node.storage.logLength() >= logEntriesMax) {
    throw storeErrors.create(
      "RS_ERR_STORE_OVERLOADED",
      `${node.storage.logLength()} log entries not yet acknowledged by every replica (a peer is down; past store.deadPeerAfterS it no longer holds the log back)`,
    );
  }
}

/** The dedup table is bounded: past its maximum, new writes wait for expiry rather than lose exactly-once. */
export function checkDedupRoom(node: NodeContext): void {
  if (node.storage.dedupCount() >= dedupRowsMax) {
    throw storeErrors.create("RS_ERR_STORE_OVERLOADED", `${node.storage.dedupCount()} op ids kept for deduplication`);
  }
}

/**
 * Fails fast, before anything is applied, when the level cannot be met with the replicas
 * this node sees up (and, for writes, the fallbacks that could take hints): a `global` write
 * with every other site down, an `all` write with a replica down, answer at once instead of
 * at their timeout.
 */
export function checkReachable(node: NodeContext, partition: number, level: Consistency, hints: boolean): void {
  const replicas = node.replicas[partition];
  const isUp = (n: string): boolean => n === node.id || node.transport.mayBeUp(n);
  const local = replicas.get(node.site) ?? [];
  const fallbacksUp = hints ? node.siteOrder[partition].filter((n) => !local.includes(n) && isUp(n)).length : 0;
  if (levelReachable(level, replicas, node.site, isUp, fallbacksUp)) return;
  const down = [...replicas.values()].flat().filter((n) => !isUp(n));
  throw storeErrors.create(
    "RS_ERR_STORE_CONSISTENCY",
    `${level} cannot be met: replicas down as this node sees them: ${down.join(", ")} (nothing was applied)`,
    { detail: { applied: false, down } },
  );
}

export function defaultTimeoutMs(level: Consistency): number {
  return level === "global" || level === "all" ? globalTimeoutMsDefault : localTimeoutMsDefault;
}
