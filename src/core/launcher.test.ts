import assert from "node:assert/strict";
import { test } from "node:test";
import { launch, nodeBin } from "./index.ts";

test("launcher - waits for the ready line and stop() ends the process", async () => {
  const p = await launch({
    name: "sleeper",
    command: nodeBin,
    args: ["-e", "console.log(JSON.stringify({event:'ready',port:1})); setInterval(()=>{},1000)"],
  });
  assert.deepEqual(p.ready, { event: "ready", port: 1 });
  await p.stop();
  const { signal } = await p.exited;
  assert.equal(signal, "SIGTERM");
});

test("launcher - an early exit fails fast with the process's last output", async () => {
  const started = performance.now();
  await assert.rejects(
    launch({ name: "crasher", command: nodeBin, args: ["-e", "console.error('boom: bad config'); process.exit(3)"] }),
    /crasher exited with 3[\s\S]*boom: bad config/,
  );
  assert.ok(performance.now() - started < 5000);
});

test("launcher - a process that never gets ready is killed after the bounded wait", async () => {
  await assert.rejects(
    launch({ name: "silent", command: nodeBin, args: ["-e", "setInterval(()=>{},1000)"], readyTimeoutMs: 300 }),
    /silent not ready after 300 ms/,
  );
});
