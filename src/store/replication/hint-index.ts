// The hints this node holds as a fallback, by key: a fallback keeps a down replica's ops in
// its own log (not in its key states, the partition is not its own), so without this a read
// could not see a write acknowledged through a hint. A read at local-quorum or global asks
// the site's fallbacks too, and each answers with its key state merged with the hints it
// holds for the key. An entry goes once every target acknowledged its newest hint. Rebuilt
// from the log at start; bounded by hintKeysMax (past it, new hints are counted, not indexed).
import { decodeState, type KeyState, merge } from "../crdt/crdt.ts";
import type { LogEntry } from "../storage/storage.ts";
import { hintKeysMax } from "./engine-constants.ts";

type HintEntry = { state: KeyState | undefined; maxSeq: number; targets: Set<string> };

export class HintIndex {
  readonly #byKey = new Map<string, HintEntry>();
  /** Hints not indexed because the index was full (reads may miss them until delivered). */
  dropped = 0;

  /** Records a hint entry (committed at `seq`). */
  add(entry: Pick<LogEntry, "key" | "seq" | "payload" | "targets">): void {
    let e = this.#byKey.get(entry.key);
    if (!e) {
      if (this.#byKey.size >= hintKeysMax) {
        this.dropped++;
        return;
      }
      e = { state: undefined, maxSeq: 0, targets: new Set() };
      this.#byKey.set(entry.key, e);
    }
    e.state = merge(e.state, decodeState(entry.payload));
    e.maxSeq = Math.max(e.maxSeq, entry.seq);
    for (const t of entry.targets) e.targets.add(t);
  }

  stateOf(key: string): KeyState | undefined {
    return this.#byKey.get(key)?.state;
  }

  /** Forgets keys whose every hint each target acknowledged (`acked`: a target's cursor). */
  prune(acked: (target: string) => number): void {
    for (const [key, e] of this.#byKey) {
      let delivered = true;
      for (const t of e.targets) if (acked(t) < e.maxSeq) delivered = false;
      if (delivered) this.#byKey.delete(key);
    }
  }

  get size(): number {
    return this.#byKey.size;
  }
}
