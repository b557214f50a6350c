import assert from "node:assert/strict";
import { test } from "node:test";
import { antiEntropySettleMs, antiEntropySettleStreakMaxMs, settlingKeysMax } from "./engine-constants.ts";
import { SettlingKeys } from "./settling-keys.ts";

test("settling keys - a key settles for the settle time after its last change, then no more", () => {
  const s = new SettlingKeys();
  s.noteChanged("k", 1_000);
  assert.ok(s.isSettling("k", 1_000 + antiEntropySettleMs - 1));
  assert.ok(!s.isSettling("k", 1_000 + antiEntropySettleMs));
  assert.ok(!s.isSettling("other", 1_000));
});

test("settling keys - a key that never stops changing settles only for the streak's first part, then is compared", () => {
  const s = new SettlingKeys();
  let nowMs = 0;
  for (; nowMs < antiEntropySettleStreakMaxMs; nowMs += antiEntropySettleMs / 2) {
    s.noteChanged("hot", nowMs);
    assert.ok(s.isSettling("hot", nowMs), `settling at ${nowMs}`);
  }
  s.noteChanged("hot", nowMs);
  assert.ok(!s.isSettling("hot", nowMs), "a streak past its bound is compared");
  // Quiet for the settle time, then written again: a new streak.
  nowMs += antiEntropySettleMs;
  s.noteChanged("hot", nowMs);
  assert.ok(s.isSettling("hot", nowMs));
});

test("settling keys - bounded: past the bound the keys changed longest ago are forgotten, quiet ones too", () => {
  const s = new SettlingKeys();
  for (let i = 0; i <= settlingKeysMax; i++) s.noteChanged(`k${i}`, 0);
  assert.equal(s.size, settlingKeysMax);
  assert.ok(!s.isSettling("k0", 0), "the oldest went");
  assert.ok(s.isSettling(`k${settlingKeysMax}`, 0));
  s.noteChanged("late", antiEntropySettleMs);
  assert.equal(s.size, 1, "keys quiet for the settle time are dropped as new ones come");
});
