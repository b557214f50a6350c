// A key row staged for the next group commit whose bytes are encoded only when first read
// (by the commit, or by a read or an anti-entropy page that wants them). A key rewritten
// several times before the commit is then encoded once, not once per write: a replica
// catching up on a relayed backlog merges op after op into the same hot keys in one turn,
// and re-encoding the whole state for each op was 79 % of a store node's time in a planet
// recovering from a proof run (lon-store2 after `redshirt proof --duration 120s --seed 11`,
// its replication minutes behind). States are never changed in place, so the bytes are the
// same whenever they are made.
import { encodeState, type KeyState } from "../crdt/crdt.ts";
import type { KeyRow } from "../storage/storage.ts";

export class StagedRow implements KeyRow {
  readonly key: string;
  readonly partition: number;
  readonly digest: number;
  readonly expiresAtMs: number;
  readonly #source: KeyState;
  #bytes: Uint8Array | undefined;

  constructor(key: string, partition: number, source: KeyState, digest: number, expiresAtMs: number) {
    this.key = key;
    this.partition = partition;
    this.#source = source;
    this.digest = digest;
    this.expiresAtMs = expiresAtMs;
  }

  get state(): Uint8Array {
    this.#bytes ??= encodeState(this.#source);
    return this.#bytes;
  }

  /** Whether the bytes were made (for tests). */
  get encoded(): boolean {
    return this.#bytes !== undefined;
  }
}
