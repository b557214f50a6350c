// The physics of one link: when a chunk of bytes handed to it arrives at the far end. A
// link is full duplex; each direction is one pipe of the link's bandwidth shared by every
// connection on it (serialization: a chunk occupies the pipe for bytes × 8 / bandwidth, a
// token bucket whose depth is one chunk), then travels the one-way delay of the distance,
// plus the operator's extra delay, plus jitter drawn per chunk. Loss on TCP is a
// retransmission (the chunk, and what queues behind it, arrives later); on UDP a drop.
import type { Clock, Random } from "../core/index.ts";
import { retransmitMsMin } from "./constants.ts";

/** forward: from the dialer to the target; back: the target's answers. */
export type Direction = "forward" | "back";

export type LinkSettings = {
  /** The one-way delay of the distance; fixed for the link's life. */
  readonly oneWayMs: number;
  readonly jitterMs: number;
  /** Per direction; null: no limit. */
  readonly bandwidthMbps: number | null;
  readonly lossPct: number;
  /** Added by `slow` at run time, on top of the distance. */
  readonly extraDelayMs: number;
  readonly cut: boolean;
};

export class LinkShaper {
  readonly #clock: Clock;
  readonly #random: Random;
  #settings: LinkSettings;
  readonly #freeAtMs: Record<Direction, number> = { forward: 0, back: 0 };

  constructor(components: { clock: Clock; random: Random }, settings: LinkSettings) {
    this.#clock = components.clock;
    this.#random = components.random;
    this.#settings = settings;
  }

  get clock(): Clock {
    return this.#clock;
  }

  get settings(): LinkSettings {
    return this.#settings;
  }

  update(change: Partial<Omit<LinkSettings, "oneWayMs">>): void {
    this.#settings = { ...this.#settings, ...change };
  }

  /** One way, distance plus the extra delay: what a byte takes with an idle pipe and no jitter. */
  get delayMs(): number {
    return this.#settings.oneWayMs + this.#settings.extraDelayMs;
  }

  /** True when the link changes nothing: bytes may go straight through (the zero-distance fast path). */
  get transparent(): boolean {
    const s = this.#settings;
    return !s.cut && this.delayMs === 0 && s.jitterMs === 0 && s.bandwidthMbps === null && s.lossPct === 0;
  }

  /** Whether a datagram is lost on the way (UDP). */
  drops(): boolean {
    const p = this.#settings.lossPct;
    return p > 0 && this.#random.next() * 100 < p;
  }

  /**
   * When `bytes` handed to the link no earlier than `sendAtMs` arrive at the far end. Moves the
   * direction's pipe forward; `retransmitOnLoss` (TCP) turns a loss into a late arrival.
   */
  arrivalMs(direction: Direction, bytes: number, sendAtMs: number, retransmitOnLoss: boolean): number {
    const s = this.#settings;
    const startMs = Math.max(sendAtMs, this.#freeAtMs[direction]);
    const txMs = s.bandwidthMbps === null ? 0 : (bytes * 8) / (s.bandwidthMbps * 1000);
    const doneMs = startMs + txMs;
    this.#freeAtMs[direction] = doneMs;
    const jitterMs = s.jitterMs > 0 ? s.jitterMs * this.#random.next() : 0;
    const lateMs = retransmitOnLoss && this.drops() ? Math.max(retransmitMsMin, 2 * this.delayMs) : 0;
    return doneMs + this.delayMs + jitterMs + lateMs;
  }
}
