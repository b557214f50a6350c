// One direction of one connection (or UDP session) across a link: the bytes in flight on
// the emulated fiber, each due at its arrival time. Arrival times never decrease, so jitter
// never reorders bytes. The queue is bounded: past queueBytesMax the reader of the source
// is paused (backpressure, as a full TCP window would), and resumed below the resume mark.
// While the link is cut nothing is delivered: in "hold" mode (TCP) the bytes wait and are
// sent again on heal, as a retransmission would; in "drop" mode (UDP) they are lost.
import type { TimerHandle } from "../core/index.ts";
import { queueBytesMax, queueBytesResume, udpQueueDatagramsMax } from "./constants.ts";
import type { Direction, LinkShaper } from "./shaper.ts";

/** Where delivered items go: a socket, or a UDP send. write() false: stop until drained(). */
export interface QueueSink {
  write(chunk: Buffer): boolean;
  /** The source closed its side (TCP FIN). */
  end(): void;
  /** The source was reset (TCP RST). */
  reset(): void;
}

type Item = { readonly kind: "data" | "end" | "reset"; readonly chunk: Buffer | null; atMs: number | undefined };

export type QueueOptions = {
  readonly shaper: LinkShaper;
  readonly direction: Direction;
  readonly mode: "hold" | "drop";
  /** Called with the bytes of each chunk as it reaches the sink. */
  readonly onDelivered?: (bytes: number) => void;
  /** Backpressure on the source (hold mode). */
  readonly onPause?: () => void;
  readonly onResume?: () => void;
};

/** Deliveries may go this much before their time: a timer never fires at an exact fraction of a millisecond. */
const earlyMsMax = 0.5;
/** Timers fire about this late (they run on whole milliseconds of the loop clock): arm them that much early. */
const timerLateMs = 1;

export class DelayQueue {
  readonly #o: QueueOptions;
  readonly #items: Item[] = [];
  #head = 0;
  /** Items before this index have their arrival time; the rest (a suffix) do not yet. */
  #scheduled = 0;
  #bytes = 0;
  #lastAtMs = 0;
  #timer: TimerHandle | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #sink: QueueSink | undefined;
  #sinkBlocked = false;
  #paused = false;
  #cut: boolean;
  #closed = false;
  /** Nothing is sent before this (the emulated handshake). */
  floorMs = 0;

  constructor(options: QueueOptions) {
    this.#o = options;
    this.#cut = options.shaper.settings.cut;
  }

  /** Bytes waiting or in flight. */
  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get paused(): boolean {
    return this.#paused;
  }

  /** Sets (or replaces) where items go; nothing is delivered before a sink is attached. */
  attach(sink: QueueSink): void {
    this.#sink = sink;
    this.#sinkBlocked = false;
    this.#pump();
  }

  /** Queues a chunk; false when dropped (drop mode: cut, or the queue is full). */
  push(chunk: Buffer): boolean {
    if (this.#closed) return false;
    if (this.#o.mode === "drop" && (this.#cut || this.length >= udpQueueDatagramsMax)) return false;
    const clock = this.#o.shaper.clock;
    // Fast path: a transparent link with nothing queued writes straight through.
    if (this.length === 0 && this.#sink && !this.#sinkBlocked && this.#o.shaper.transparent) {
      if (this.floorMs <= clock.monoMs()) {
        this.#o.onDelivered?.(chunk.length);
        if (!this.#sink.write(chunk)) this.#blocked();
        return true;
      }
    }
    this.#add({ kind: "data", chunk, atMs: undefined });
    this.#bytes += chunk.length;
    if (this.#o.mode === "hold" && !this.#paused && this.#bytes > queueBytesMax) {
      this.#paused = true;
      this.#o.onPause?.();
    }
    this.#pump();
    return true;
  }

  /** Queues the source's FIN behind its bytes. */
  pushEnd(): void {
    if (this.#closed) return;
    this.#add({ kind: "end", chunk: null, atMs: undefined });
    this.#pump();
  }

  /** Queues the source's reset behind its bytes (a RST travels the link too). */
  pushReset(): void {
    if (this.#closed) return;
    this.#add({ kind: "reset", chunk: null, atMs: undefined });
    this.#pump();
  }

  /** The sink can take more (its 'drain'). */
  drained(): void {
    if (!this.#sinkBlocked) return;
    this.#sinkBlocked = false;
    this.#pump();
  }

  /** The link was cut: nothing moves until heal(); in drop mode what was in flight is lost. */
  cut(): void {
    this.#cut = true;
    this.#cancelTimer();
    if (this.#o.mode === "drop") {
      this.#reset();
      return;
    }
    // In flight when the link went: sent again once it is back (TCP retransmits).
    for (let i = this.#head; i < this.#items.length; i++) this.#items[i].atMs = undefined;
    this.#scheduled = this.#head;
  }

  heal(): void {
    if (!this.#cut) return;
    this.#cut = false;
    this.#pump();
  }

  /** Drops everything; nothing more is delivered. */
  close(): void {
    this.#closed = true;
    this.#cancelTimer();
    this.#reset();
  }

  #reset(): void {
    this.#items.length = 0;
    this.#head = 0;
    this.#scheduled = 0;
    this.#bytes = 0;
  }

  #add(item: Item): void {
    this.#items.push(item);
  }

  #blocked(): void {
    this.#sinkBlocked = true;
  }

  /** Schedules what is unscheduled, delivers what is due, and arms the timer for the rest. */
  #pump(): void {
    if (this.#closed || this.#cut) return;
    const shaper = this.#o.shaper;
    const nowMs = shaper.clock.monoMs();
    const sendAtMs = Math.max(nowMs, this.floorMs);
    for (let i = Math.max(this.#head, this.#scheduled); i < this.#items.length; i++) {
      const item = this.#items[i];
      const bytes = item.chunk?.length ?? 0;
      const atMs = shaper.arrivalMs(this.#o.direction, bytes, sendAtMs, this.#o.mode === "hold");
      item.atMs = Math.max(atMs, this.#lastAtMs);
      this.#lastAtMs = item.atMs;
    }
    this.#scheduled = this.#items.length;
    if (!this.#sink || this.#sinkBlocked) return;
    while (this.#head < this.#items.length) {
      const item = this.#items[this.#head];
      if ((item.atMs as number) > nowMs + earlyMsMax) break;
      this.#items[this.#head] = undefined as unknown as Item;
      this.#head++;
      if (!this.#deliver(item)) break;
      if (this.#closed) return;
    }
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
      this.#scheduled = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#scheduled -= this.#head;
      this.#head = 0;
    }
    if (this.#paused && this.#bytes <= queueBytesResume) {
      this.#paused = false;
      this.#o.onResume?.();
    }
    if (this.#head < this.#items.length && !this.#sinkBlocked) this.#arm(this.#items[this.#head].atMs as number);
  }

  /** Hands one item to the sink; false when the sink is full. */
  #deliver(item: Item): boolean {
    const sink = this.#sink as QueueSink;
    if (item.kind === "end") {
      sink.end();
      return true;
    }
    if (item.kind === "reset") {
      sink.reset();
      return true;
    }
    const chunk = item.chunk as Buffer;
    this.#bytes -= chunk.length;
    this.#o.onDelivered?.(chunk.length);
    if (sink.write(chunk)) return true;
    this.#blocked();
    return false;
  }

  #arm(atMs: number): void {
    if (this.#timer && this.#timerAtMs <= atMs) return;
    this.#cancelTimer();
    const clock = this.#o.shaper.clock;
    this.#timerAtMs = atMs;
    const remainingMs = Math.max(0, atMs - clock.monoMs());
    // Armed early by the usual lateness; a timer that still fires early re-arms for the rest.
    const delayMs = remainingMs > timerLateMs ? remainingMs - timerLateMs : remainingMs;
    this.#timer = clock.setTimer(delayMs, () => {
      this.#timer = undefined;
      this.#timerAtMs = Number.POSITIVE_INFINITY;
      this.#pump();
    });
  }

  #cancelTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
  }
}
