import assert from "node:assert/strict";
import { test } from "node:test";
import { ManualClock, seededRandom } from "../../core/index.ts";
import { Target } from "./balancer.ts";
import { healthJitterRatio } from "./constants.ts";
import { HealthChecker } from "./health.ts";
import { Pool } from "./pool.ts";

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

test("health - each target is probed on a jittered interval and every answer is reported", async () => {
  const clock = new ManualClock();
  const results: Array<[string, boolean, number]> = [];
  let answer = true;
  const checker = new HealthChecker({
    clock,
    random: seededRandom(3),
    intervalMs: 100,
    timeoutMs: 50,
    probe: async (t) => {
      if (t.id === "boom") throw new Error("probe blew up");
      return answer;
    },
    onResult: (t, ok) => results.push([t.id, ok, clock.monoMs()]),
  });
  const a = new Target({ id: "a", site: "s", host: "h", port: 1, kind: "instance" }, new Pool());
  const boom = new Target({ id: "boom", site: "s", host: "h", port: 2, kind: "instance" }, new Pool());
  await Promise.all([checker.add(a), checker.add(boom)]);
  assert.deepEqual(
    results.map((r) => [r[0], r[1]]),
    [
      ["a", true],
      ["boom", false],
    ],
  );
  for (let i = 0; i < 40; i++) {
    clock.advance(10);
    await flush();
  }
  const times = results.filter((r) => r[0] === "a").map((r) => r[2]);
  assert.ok(times.length >= 3 && times.length <= 6, `checks of a at ${times}`);
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    assert.ok(gap >= 100 * (1 - healthJitterRatio) - 10 && gap <= 100 * (1 + healthJitterRatio) + 10, `gap ${gap}`);
  }
  answer = false;
  checker.remove(boom);
  const before = results.filter((r) => r[0] === "boom").length;
  for (let i = 0; i < 30; i++) {
    clock.advance(10);
    await flush();
  }
  assert.equal(results.filter((r) => r[0] === "boom").length, before, "a removed target is not probed");
  assert.equal(results.at(-1)?.[1], false);
  checker.stop();
});
