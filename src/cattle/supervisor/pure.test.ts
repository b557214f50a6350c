// The supervisor's pure parts: the back-off curve, the adoption plan, and reading a
// gateway's backends view during a drain.
import assert from "node:assert/strict";
import { test } from "node:test";
import { planAdoption } from "./adopt.ts";
import { backoffDelayMs } from "./backoff.ts";
import { backoffBaseMs, backoffMaxMs } from "./constants.ts";
import { verdictFromView } from "./drain.ts";
import type { OwnedProcess } from "./processes.ts";

test("backoff - starts short, doubles, stops at the ceiling, none without a failure", () => {
  assert.equal(backoffDelayMs(0), 0);
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((k) => backoffDelayMs(k)),
    [1, 2, 4, 8, 16].map((m) => m * backoffBaseMs),
  );
  assert.equal(backoffDelayMs(40), backoffMaxMs);
  assert.equal(backoffDelayMs(10_000), backoffMaxMs, "no overflow for a long crash loop");
});

function proc(pid: number, env: Record<string, string>): OwnedProcess {
  return { pid, startTicks: pid * 10, env: new Map(Object.entries(env)) };
}
const appEnv = (id: string, slot: string) => ({
  REDSHIRT_INSTANCE_ID: id,
  REDSHIRT_TIER: "app",
  REDSHIRT_SLOT: slot,
  REDSHIRT_VERSION: "1",
  HOST: "127.0.0.1",
  PORT: "9000",
});
const saved = (id: string, slot: string, pid: number, state: "ready" | "draining" = "ready") => ({
  id,
  tier: "app" as const,
  slot,
  host: "127.0.0.1",
  port: 9000,
  version: "1",
  pid,
  startTicks: pid * 10,
  startedAtMs: 5,
  state,
});

test("adopt - living processes are matched to the saved table; the gone restart; extras are strays", () => {
  const plan = planAdoption(
    [saved("a-1", "app#1", 11), saved("a-2", "app#2", 12, "draining"), saved("a-3", "app#3", 13)],
    [
      proc(11, appEnv("a-1", "app#1")),
      proc(12, appEnv("a-2", "app#2")),
      // started just before the old supervisor died: not in its table, still found
      proc(14, appEnv("a-4", "app#4")),
      // a second process claiming slot 1: the saved one wins, this one is stopped
      proc(15, appEnv("a-5", "app#1")),
      // a slot the planet no longer has
      proc(16, { ...appEnv("g-1", "gone-gateway9"), REDSHIRT_TIER: "gateway" }),
      // no identity at all
      proc(17, {}),
    ],
    (tier, slot) => tier === "app" || slot !== "gone-gateway9",
  );
  assert.deepEqual(
    plan.adopt.map((f) => [f.id, f.slot, f.pid, f.state, f.startedAtMs]),
    [
      ["a-1", "app#1", 11, "ready", 5],
      ["a-2", "app#2", 12, "draining", 5],
      ["a-4", "app#4", 14, "starting", undefined],
    ],
  );
  assert.deepEqual(plan.strays.map((p) => p.pid).sort(), [15, 16, 17]);
  assert.deepEqual(
    plan.gone.map((g) => g.id),
    ["a-3"],
  );
});

test("drain - a gateway's view: out when not listed or out of rotation with nothing in flight", () => {
  const view = (b: object[]) => ({ site: "a", gateway: "a-gateway1", backends: b });
  assert.equal(verdictFromView(view([]), "x"), "out");
  assert.equal(verdictFromView(view([{ id: "y", inRotation: true, inFlight: 3 }]), "x"), "out");
  assert.equal(verdictFromView(view([{ id: "x", inRotation: true, inFlight: 0 }]), "x"), "busy");
  assert.equal(verdictFromView(view([{ id: "x", inRotation: false, inFlight: 2 }]), "x"), "busy");
  assert.equal(verdictFromView(view([{ id: "x", inRotation: false, inFlight: 0 }]), "x"), "out");
  assert.equal(verdictFromView({ nope: 1 }, "x"), "unknown");
  assert.equal(verdictFromView(undefined, "x"), "unknown");
});
