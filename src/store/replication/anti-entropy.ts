// Anti-entropy: whatever replication, hints and read repair missed, this finds and repairs.
// Once a second this node picks one of its partitions and one peer replica of it (in any
// site) and compares hash trees: roots, then the 256 buckets, then the keys of differing
// buckets; both sides then send the states the other lacks and merge what they receive.
// One exchange moves at most `antiEntropyKeysMax` keys, so repair traffic stays throttled.
import type { Random } from "../../core/index.ts";
import { decodeState, encodeState, type KeyState } from "../crdt/crdt.ts";
import type { WireMessage } from "../wire/transport.ts";
import { antiEntropyKeysMax, antiEntropyMs } from "./engine-constants.ts";
import type { HashTrees } from "./merkle.ts";

export type AntiEntropyDeps = {
  readonly self: string;
  readonly partitions: readonly number[];
  readonly replicasOf: (partition: number) => readonly string[];
  readonly trees: HashTrees;
  readonly random: Random;
  readonly isUp: (node: string) => boolean;
  readonly send: (peer: string, message: WireMessage) => boolean;
  readonly keysOf: (partition: number) => readonly string[];
  readonly stateOf: (key: string) => KeyState | undefined;
  readonly digestOf: (key: string) => number;
  readonly mergeRemote: (key: string, partition: number, state: KeyState) => boolean;
};

export class AntiEntropy {
  readonly #d: AntiEntropyDeps;
  #next = 0;
  #lastMs = Number.NEGATIVE_INFINITY;
  /** Exchanges started and keys repaired, for tests and metrics. */
  exchanges = 0;
  keysReceived = 0;

  constructor(deps: AntiEntropyDeps) {
    this.#d = deps;
  }

  tick(nowMs: number): void {
    if (nowMs - this.#lastMs < antiEntropyMs || this.#d.partitions.length === 0) return;
    this.#lastMs = nowMs;
    const partition = this.#d.partitions[this.#next++ % this.#d.partitions.length];
    const peers = this.#d.replicasOf(partition).filter((n) => this.#d.isUp(n));
    if (peers.length === 0) return;
    const peer = peers[this.#d.random.int(peers.length)];
    this.exchanges++;
    this.#d.send(peer, ["ae-root", partition, this.#d.trees.root(partition)]);
  }

  onMessage(from: string, m: WireMessage): void {
    const partition = m[1] as number;
    if (!this.#d.partitions.includes(partition)) return;
    switch (m[0]) {
      case "ae-root":
        if (this.#d.trees.root(partition) !== m[2]) {
          this.#d.send(from, ["ae-buckets", partition, Array.from(this.#d.trees.buckets(partition))]);
        }
        return;
      case "ae-buckets": {
        const theirs = m[2] as number[];
        const mine = this.#d.trees.buckets(partition);
        const differing = new Set<number>();
        for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) differing.add(i);
        if (differing.size === 0) return;
        const keys = this.#keysIn(partition, differing);
        this.#d.send(from, ["ae-keys", partition, [...differing], keys.map((k) => [k, this.#d.digestOf(k)])]);
        return;
      }
      case "ae-keys": {
        const differing = new Set(m[2] as number[]);
        const theirs = new Map(m[3] as [string, number][]);
        const send: [string, Uint8Array][] = [];
        const want: string[] = [];
        for (const key of this.#keysIn(partition, differing)) {
          const d = this.#d.digestOf(key);
          if (theirs.get(key) !== d) this.#pushState(send, key);
          if (theirs.has(key) && theirs.get(key) !== d && want.length < antiEntropyKeysMax) want.push(key);
          theirs.delete(key);
        }
        for (const key of theirs.keys()) if (want.length < antiEntropyKeysMax) want.push(key);
        if (send.length > 0 || want.length > 0) this.#d.send(from, ["ae-states", partition, send, want]);
        return;
      }
      case "ae-states": {
        for (const [key, bytes] of m[2] as [string, Uint8Array][]) {
          this.keysReceived++;
          this.#d.mergeRemote(key, partition, decodeState(bytes));
        }
        const want = m[3] as string[];
        if (want.length > 0) {
          const send: [string, Uint8Array][] = [];
          for (const key of want) this.#pushState(send, key);
          if (send.length > 0) this.#d.send(from, ["ae-states", partition, send, []]);
        }
        return;
      }
    }
  }

  #pushState(out: [string, Uint8Array][], key: string): void {
    if (out.length >= antiEntropyKeysMax) return;
    const state = this.#d.stateOf(key);
    if (state) out.push([key, encodeState(state)]);
  }

  #keysIn(partition: number, buckets: ReadonlySet<number>): string[] {
    const out: string[] = [];
    for (const key of this.#d.keysOf(partition)) {
      if (buckets.has(this.#d.trees.bucketOf(key))) out.push(key);
      if (out.length >= antiEntropyKeysMax) break;
    }
    return out;
  }
}
