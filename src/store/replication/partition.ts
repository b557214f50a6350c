// Where a key lives: keys hash to a fixed number of partitions (the hash is part of the data
// layout, so it never changes), and in each site a partition is held by the first `rf` nodes
// of its rendezvous (highest-random-weight) order. Adding a node moves only the partitions
// whose order the new node now leads into, about rf/n of them; removing one moves only its own.
import { assert } from "../../core/index.ts";
import { fmix32, murmur3 } from "../crdt/hash.ts";

const keySeed = 0;

export function partitionOf(key: string, partitions: number): number {
  assert(Number.isSafeInteger(partitions) && partitions > 0 && partitions <= 0xffff_ffff, "partitions must be >= 1");
  return murmur3(key, keySeed) % partitions;
}

/** A node's weight for a partition: MurmurHash3 of its id, seeded by the mixed partition number. */
function weight(partition: number, nodeId: string): number {
  return murmur3(nodeId, fmix32(partition + 0x9e3779b9));
}

/** Every node, most preferred first (weight descending, ties by id), for one partition. */
export function rendezvousOrder(partition: number, nodeIds: readonly string[]): string[] {
  assert(Number.isSafeInteger(partition) && partition >= 0, "partition must be a non-negative integer");
  assert(new Set(nodeIds).size === nodeIds.length, "node ids must be distinct");
  return nodeIds
    .map((id) => ({ id, w: weight(partition, id) }))
    .sort((a, b) => b.w - a.w || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((x) => x.id);
}

/** The rf nodes of one site that hold a partition (all of them when the site has fewer). */
export function replicasOf(partition: number, nodeIdsOfSite: readonly string[], rf: number): string[] {
  assert(Number.isSafeInteger(rf) && rf >= 1, "rf must be a positive integer");
  return rendezvousOrder(partition, nodeIdsOfSite).slice(0, rf);
}
