// Keys whose copies are on their way between replicas right now: this node wrote them as a
// coordinator, or merged them from a replication stream, within antiEntropySettleMs. While
// a key settles, anti-entropy leaves it to the streams (anti-entropy.ts): under steady
// writes most keys that differ between two replicas differ only because a batch is still
// in flight, and repairing them sends every state a second time (over the WAN, too).
//
// A key that never stops changing (a hot counter) would settle for ever and never be
// compared, so a streak of changes counts as settling only for its first
// antiEntropySettleStreakMaxMs; after that anti-entropy compares the key as any other until
// it has been quiet for antiEntropySettleMs. Bounded: past settlingKeysMax the keys changed
// longest ago are forgotten (they are then merely compared, as without this).
import { antiEntropySettleMs, antiEntropySettleStreakMaxMs, settlingKeysMax } from "./engine-constants.ts";

type Streak = { readonly firstMs: number; lastMs: number };

export class SettlingKeys {
  /** By key, in the order of their last change (oldest first). */
  readonly #streaks = new Map<string, Streak>();

  noteChanged(key: string, nowMs: number): void {
    const s = this.#streaks.get(key);
    this.#streaks.delete(key);
    const streak = s && nowMs - s.lastMs < antiEntropySettleMs ? s : { firstMs: nowMs, lastMs: nowMs };
    streak.lastMs = nowMs;
    this.#streaks.set(key, streak);
    this.#prune(nowMs);
  }

  /** Whether anti-entropy should leave the key to the streams now. */
  isSettling(key: string, nowMs: number): boolean {
    const s = this.#streaks.get(key);
    return (
      s !== undefined && nowMs - s.lastMs < antiEntropySettleMs && nowMs - s.firstMs < antiEntropySettleStreakMaxMs
    );
  }

  get size(): number {
    return this.#streaks.size;
  }

  #prune(nowMs: number): void {
    for (const [key, s] of this.#streaks) {
      if (this.#streaks.size <= settlingKeysMax && nowMs - s.lastMs < antiEntropySettleMs) return;
      this.#streaks.delete(key);
    }
  }
}
