// TEMPORARY: a private stand-in for src/store/partition.ts, which another engineer writes
// at the same time with exactly these signatures. When both are merged, the lead points the
// imports of this file (client.ts only) at ./partition.ts and deletes this file. Until then
// the client routes by this hash; routing to a node that is not a replica still works (any
// node forwards), so a mismatch would cost a hop, never correctness. Tests compare against
// whatever these functions say, never against fixed hash values.

/** FNV-1a over the UTF-8 bytes, then a finalizer so nearby keys spread (32-bit, unsigned). */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) h = Math.imul(h ^ byte, 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The partition a key belongs to, in [0, partitions). */
export function partitionOf(key: string, partitions: number): number {
  return hash32(key) % partitions;
}

/** The rf nodes (of one site) that hold a partition, best first, by rendezvous hashing. */
export function replicasOf(partition: number, nodeIds: readonly string[], rf: number): string[] {
  return nodeIds
    .map((id) => ({ id, score: hash32(`${id}\u0000${partition}`) }))
    .sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    .slice(0, rf)
    .map((n) => n.id);
}
