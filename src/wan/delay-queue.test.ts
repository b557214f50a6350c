// The link physics with an injected clock and seeded randomness: delay, jitter that never
// reorders, serialization at the bandwidth, cut and heal, the backpressure bound, UDP drops.
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ManualClock, seededRandom } from "../core/index.ts";
import { queueBytesMax, queueBytesResume, readChunkBytesMax, udpQueueDatagramsMax } from "./constants.ts";
import { DelayQueue } from "./delay-queue.ts";
import { type LinkSettings, LinkShaper } from "./shaper.ts";

type Seen = { atMs: number; kind: "data" | "end" | "reset"; chunk?: Buffer };

function setup(settings: Partial<LinkSettings> = {}, mode: "hold" | "drop" = "hold", seed = 1) {
  const clock = new ManualClock();
  const shaper = new LinkShaper(
    { clock, random: seededRandom(seed) },
    { oneWayMs: 40, jitterMs: 0, bandwidthMbps: null, lossPct: 0, extraDelayMs: 0, cut: false, ...settings },
  );
  const seen: Seen[] = [];
  let accept = true;
  const events = { pauses: 0, resumes: 0 };
  const queue = new DelayQueue({
    shaper,
    direction: "forward",
    mode,
    onPause: () => events.pauses++,
    onResume: () => events.resumes++,
  });
  queue.attach({
    write: (chunk) => {
      seen.push({ atMs: clock.monoMs(), kind: "data", chunk });
      return accept;
    },
    end: () => seen.push({ atMs: clock.monoMs(), kind: "end" }),
    reset: () => seen.push({ atMs: clock.monoMs(), kind: "reset" }),
  });
  const block = (b: boolean) => {
    accept = !b;
  };
  return { clock, shaper, queue, seen, events, block };
}

test("wan queue - a chunk arrives after the one-way delay, not before", () => {
  const { clock, queue, seen } = setup({ oneWayMs: 40 });
  queue.push(Buffer.from("hello"));
  clock.advance(39);
  assert.equal(seen.length, 0);
  clock.advance(1);
  assert.deepEqual(
    seen.map((s) => [s.atMs, s.chunk?.toString()]),
    [[40, "hello"]],
  );
});

test("wan queue - jitter spreads arrivals but never reorders bytes, and FIN comes after the data", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 60 }),
      (seed, gapsMs) => {
        const { clock, queue, seen } = setup({ oneWayMs: 30, jitterMs: 25 }, "hold", seed);
        const sentAt: number[] = [];
        gapsMs.forEach((gap, i) => {
          clock.advance(gap);
          sentAt.push(clock.monoMs());
          queue.push(Buffer.from([i & 255]));
        });
        queue.pushEnd();
        clock.advance(1_000);
        assert.equal(seen.length, gapsMs.length + 1);
        assert.equal(seen.at(-1)?.kind, "end");
        for (let i = 0; i < gapsMs.length; i++) {
          assert.equal(seen[i].chunk?.[0], i & 255, "bytes in order");
          // Never earlier than the distance allows (half a timer tick of slack), never later than delay + jitter.
          assert.ok(seen[i].atMs >= sentAt[i] + 30 - 0.5, `chunk ${i} early`);
          assert.ok(seen[i].atMs <= sentAt[i] + 30 + 25 + 1e-9, `chunk ${i} late`);
          if (i > 0) assert.ok(seen[i].atMs >= seen[i - 1].atMs);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test("wan queue - the bandwidth serializes chunks: 1 MB at 100 Mb/s takes 80 ms on top of the delay", () => {
  const { clock, queue, seen } = setup({ oneWayMs: 10, bandwidthMbps: 100 });
  for (let i = 0; i < 8; i++) queue.push(Buffer.alloc(125_000)); // 8 × 10 ms at 100 Mb/s
  clock.advance(10 + 80 - 1);
  assert.equal(seen.length, 7);
  clock.advance(1);
  assert.equal(seen.length, 8);
  assert.deepEqual(
    seen.map((s) => s.atMs),
    [20, 30, 40, 50, 60, 70, 80, 90],
  );
});

test("wan queue - a cut holds every byte, heal sends them again a full delay later", () => {
  const { clock, shaper, queue, seen } = setup({ oneWayMs: 40 });
  queue.push(Buffer.from("before"));
  clock.advance(10);
  shaper.update({ cut: true });
  queue.cut();
  queue.push(Buffer.from("during"));
  clock.advance(5_000);
  assert.equal(seen.length, 0, "nothing crosses a cut link");
  assert.equal(queue.bytes, 12);
  shaper.update({ cut: false });
  queue.heal();
  const healedAt = clock.monoMs();
  clock.advance(39);
  assert.equal(seen.length, 0);
  clock.advance(1);
  assert.deepEqual(
    seen.map((s) => [s.atMs - healedAt, s.chunk?.toString()]),
    [
      [40, "before"],
      [40, "during"],
    ],
  );
});

test("wan queue - the handshake floor: nothing is sent before it, then the delay applies", () => {
  const { clock, queue, seen } = setup({ oneWayMs: 20 });
  queue.floorMs = 40; // one round trip after the connect
  queue.push(Buffer.from("GET /"));
  clock.advance(59);
  assert.equal(seen.length, 0);
  clock.advance(1);
  assert.equal(seen[0]?.atMs, 60);
});

test("wan queue - a full sink pauses the reader at the bound and resumes it below the mark", () => {
  const { clock, queue, seen, events, block } = setup({ oneWayMs: 5 });
  block(true);
  let pushed = 0;
  let maxBytes = 0;
  // A reader that honours pause: it stops pushing once paused (Node may hand over one more read).
  while (!queue.paused) {
    queue.push(Buffer.alloc(readChunkBytesMax));
    pushed += readChunkBytesMax;
    maxBytes = Math.max(maxBytes, queue.bytes);
    clock.advance(1);
    assert.ok(pushed < 4 * queueBytesMax, "the queue must pause its reader");
  }
  queue.push(Buffer.alloc(readChunkBytesMax)); // the read already in progress
  maxBytes = Math.max(maxBytes, queue.bytes);
  assert.equal(events.pauses, 1);
  assert.ok(maxBytes <= queueBytesMax + 2 * readChunkBytesMax, `queue held ${maxBytes} bytes`);
  assert.equal(seen.length, 1, "one write reached the blocked sink");
  // The sink drains: the queue empties down through the resume mark and the reader resumes.
  block(false);
  queue.drained();
  clock.advance(100);
  assert.equal(events.resumes, 1);
  assert.ok(queue.bytes <= queueBytesResume);
  assert.equal(queue.bytes, 0);
  assert.equal(
    seen.reduce((n, s) => n + (s.chunk?.length ?? 0), 0),
    pushed + readChunkBytesMax,
  );
});

test("wan queue - a transparent link writes straight through, the same tick", () => {
  const { queue, seen } = setup({ oneWayMs: 0 });
  queue.push(Buffer.from("now"));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].atMs, 0);
});

test("wan queue - UDP mode drops while cut and past its datagram bound, and loses what was in flight", () => {
  const { clock, shaper, queue, seen } = setup({ oneWayMs: 10 }, "drop");
  queue.push(Buffer.from("in flight"));
  shaper.update({ cut: true });
  queue.cut();
  assert.equal(queue.push(Buffer.from("while cut")), false);
  shaper.update({ cut: false });
  queue.heal();
  clock.advance(100);
  assert.equal(seen.length, 0, "a datagram in flight over a cut link is lost");
  let accepted = 0;
  for (let i = 0; i < udpQueueDatagramsMax + 10; i++) if (queue.push(Buffer.from([i & 255]))) accepted++;
  assert.equal(accepted, udpQueueDatagramsMax);
  clock.advance(100);
  assert.equal(seen.length, udpQueueDatagramsMax);
});

test("wan shaper - loss drops datagrams at the rate asked and turns TCP loss into a late arrival", () => {
  const clock = new ManualClock();
  const shaper = new LinkShaper(
    { clock, random: seededRandom(7) },
    { oneWayMs: 10, jitterMs: 0, bandwidthMbps: null, lossPct: 10, extraDelayMs: 0, cut: false },
  );
  let dropped = 0;
  for (let i = 0; i < 10_000; i++) if (shaper.drops()) dropped++;
  assert.ok(dropped > 850 && dropped < 1150, `dropped ${dropped} of 10000 at 10 %`);
  const arrivals = Array.from({ length: 1000 }, () => shaper.arrivalMs("forward", 100, 0, true));
  const late = arrivals.filter((a) => a > 10).length;
  assert.ok(late > 50 && late < 150, `${late} retransmissions`);
  assert.ok(
    arrivals.every((a) => a === 10 || a === 210),
    "a retransmission costs the minimum RTO",
  );
});
