import assert from "node:assert/strict";
import { test } from "node:test";
import { SourceLimits } from "./source-limits.ts";

test("source-limits - connections per source are capped and freed; the rate bucket refills at its rate", () => {
  const l = new SourceLimits({ connectionsPerSourceMax: 2, requestsPerSourcePerS: 10, requestsPerSourceBurst: 0 });
  assert.equal(l.openConnection("a"), true);
  assert.equal(l.openConnection("a"), true);
  assert.equal(l.openConnection("a"), false, "at the cap");
  assert.equal(l.openConnection("b"), true, "another source");
  l.closeConnection("a");
  assert.equal(l.openConnection("a"), true);
  let allowed = 0;
  for (let i = 0; i < 30; i++) if (l.allowRequest("a", 0)) allowed++;
  assert.equal(allowed, 10, "a second's worth at once");
  assert.equal(l.allowRequest("a", 50), false, "half a token after 50 ms");
  assert.equal(l.allowRequest("a", 100), true, "a token after 100 ms");
  assert.equal(l.allowRequest("b", 100), true, "another source has its own bucket");
  const off = new SourceLimits({ connectionsPerSourceMax: 1, requestsPerSourcePerS: 0, requestsPerSourceBurst: 0 });
  for (let i = 0; i < 1_000; i++) assert.equal(off.allowRequest("a", 0), true);
});
