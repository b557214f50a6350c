// Fault ids: a run's faults must not be mistaken for an earlier run's by the holders, which
// answer a known id as already done.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../core/index.ts";
import { faultIdPrefix } from "./chaos.ts";

test("chaos - two runs of one seed get different fault ids; one run replays its own", () => {
  const clock = new ManualClock(1_764_800_000_000);
  const first = faultIdPrefix(clock, seededRandom(7));
  assert.equal(faultIdPrefix(clock, seededRandom(7)), first, "the same seed at the same moment: the same ids");
  clock.advance(60_000);
  assert.notEqual(faultIdPrefix(clock, seededRandom(7)), first, "the same seed a minute later: other ids");
  assert.match(first, /^f[0-9a-z]+$/);
});
