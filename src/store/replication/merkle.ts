// Anti-entropy hash trees (docs/store-internals.md, "Anti-entropy"): per partition, 256
// buckets, each the XOR of its keys' digests mixed with the key's hash (so two keys with
// equal digests do not cancel out), kept up to date in O(1) per write; and a root over the
// buckets. A key whose digest is 0 (absent, or holding nothing) contributes nothing.
import { assert } from "../../core/index.ts";
import { treeBuckets } from "../constants.ts";
import { fmix32, murmur3, murmur3Words } from "../crdt/hash.ts";

// Independent of the partition hash (seed 0), so the keys of one partition spread over all buckets.
const treeSeed = 0x2545f491;

function keyHash(key: string): number {
  return murmur3(key, treeSeed);
}

function contribution(kh: number, digest: number): number {
  return digest === 0 ? 0 : fmix32((fmix32(digest) ^ kh) >>> 0);
}

export class HashTrees {
  readonly partitions: number;
  readonly #buckets: Uint32Array;
  readonly #roots: Uint32Array;
  readonly #dirty: Uint8Array;

  constructor(partitions: number) {
    assert(Number.isSafeInteger(partitions) && partitions > 0, "partitions must be a positive integer");
    this.partitions = partitions;
    this.#buckets = new Uint32Array(partitions * treeBuckets);
    this.#roots = new Uint32Array(partitions);
    this.#dirty = new Uint8Array(partitions).fill(1);
  }

  bucketOf(key: string): number {
    return keyHash(key) >>> 24;
  }

  /** Records that `key` of `partition` changed digest (0 for absent) from oldDigest to newDigest. */
  update(partition: number, key: string, oldDigest: number, newDigest: number): void {
    this.#check(partition);
    if (oldDigest === newDigest) return;
    const kh = keyHash(key);
    const i = partition * treeBuckets + (kh >>> 24);
    this.#buckets[i] = (this.#buckets[i] ^ contribution(kh, oldDigest) ^ contribution(kh, newDigest)) >>> 0;
    this.#dirty[partition] = 1;
  }

  root(partition: number): number {
    this.#check(partition);
    if (this.#dirty[partition] === 1) {
      this.#roots[partition] = murmur3Words(this.#view(partition), partition);
      this.#dirty[partition] = 0;
    }
    return this.#roots[partition];
  }

  /** A copy of the partition's 256 bucket hashes. */
  buckets(partition: number): Uint32Array {
    this.#check(partition);
    return this.#view(partition).slice();
  }

  #view(partition: number): Uint32Array {
    return this.#buckets.subarray(partition * treeBuckets, (partition + 1) * treeBuckets);
  }

  #check(partition: number): void {
    assert(Number.isSafeInteger(partition) && partition >= 0 && partition < this.partitions, "partition out of range");
  }
}
