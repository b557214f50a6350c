import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDurationMs, parseLoadArgs } from "./load-command.ts";

test("load command - durations take ms, s, m, h and bare seconds", () => {
  assert.equal(parseDurationMs("500ms"), 500);
  assert.equal(parseDurationMs("60s"), 60_000);
  assert.equal(parseDurationMs("1.5m"), 90_000);
  assert.equal(parseDurationMs("2h"), 7_200_000);
  assert.equal(parseDurationMs("10"), 10_000);
  assert.equal(parseDurationMs("ten"), undefined);
  assert.equal(parseDurationMs("-1s"), undefined);
});

test("load command - the defaults, and every bad flag named in its error", () => {
  const d = parseLoadArgs(["--seed", "7"]);
  assert.deepEqual(
    { ...d, regions: d.regions ?? null },
    {
      planetFile: "examples/planet.yaml",
      durationMs: 60_000,
      usersPerRegion: 4,
      seed: 7,
      out: "history.jsonl",
      regions: null,
      json: false,
    },
  );
  assert.deepEqual(parseLoadArgs(["--regions", "europe, india", "--seed", "1"]).regions, ["europe", "india"]);
  assert.throws(() => parseLoadArgs(["--duration", "soon"]), /--duration must be like 60s/);
  assert.throws(() => parseLoadArgs(["--duration", "25h"]), /--duration/);
  assert.throws(() => parseLoadArgs(["--users", "0"]), /--users must be an integer in 1\.\./);
  assert.throws(() => parseLoadArgs(["--seed", "x"]), /--seed must be an integer/);
  assert.throws(() => parseLoadArgs(["--bogus"]), /RS_ERR_CLI_USAGE|Unknown option/);
  assert.throws(() => parseLoadArgs(["extra"]), /takes no positional arguments/);
});
