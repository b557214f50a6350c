// The supervisor's state in its data directory: desired counts, the app spec, each slot's
// restart history and the instance table (pid, kernel start time, identity). Written
// atomically on every change (temp file, fsync, rename, fsync of the directory), so a
// supervisor SIGKILLed at any moment leaves the last whole state, and the next one adopts
// the living instances instead of starting duplicates.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { writeFileAtomic } from "../../core/index.ts";
import { sunClockSpeedMax } from "../../topology/index.ts";
import type { SunClock } from "../sun/policy.ts";
import { instancesPerSiteMax, stateFormat } from "./constants.ts";
import { supervisorErrors } from "./errors.ts";
import { evacuationPhases, type SavedEvacuation } from "./evacuation.ts";
import { type Rollout, rolloutStates } from "./rollout.ts";
import type { Slot } from "./slots.ts";
import { type AppSpec, type TierName, tierNames } from "./tiers.ts";

export const instanceStates = ["starting", "ready", "draining", "stopping"] as const;
export type InstanceState = (typeof instanceStates)[number];

const tierSchema = z.enum(tierNames);

const instanceSchema = z.object({
  id: z.string().min(1),
  tier: tierSchema,
  slot: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int(),
  version: z.string(),
  pid: z.number().int(),
  startTicks: z.number().optional(),
  startedAtMs: z.number(),
  state: z.enum(instanceStates),
});

const appSpecSchema = z.object({ entry: z.string(), version: z.string(), readyPath: z.string() });

const slotSchema = z.object({
  key: z.string().min(1),
  tier: tierSchema,
  restarts: z.number().int().min(0),
  failures: z.number().int().min(0),
  retired: z.boolean(),
  spec: appSpecSchema.optional(),
});

const rolloutSchema = z.object({
  id: z.string(),
  state: z.enum(rolloutStates),
  from: appSpecSchema,
  to: appSpecSchema,
  maxSurge: z.number().int().min(0),
  maxUnavailable: z.number().int().min(0),
  startedAtMs: z.number(),
  endedAtMs: z.number().nullable(),
  reason: z.string().nullable(),
});

export const stateSchema = z.object({
  format: z.literal(stateFormat),
  site: z.string(),
  /** Set by a clean stop of everything: the next supervisor starts from the planet file. */
  stopped: z.boolean(),
  savedAtMs: z.number(),
  desired: z.record(tierSchema, z.number().int().min(0)),
  app: appSpecSchema,
  rollout: rolloutSchema.nullable().optional(),
  /** Evacuate/restore: where the site is (absent in files written before it existed: serving). */
  evacuation: z
    .object({ phase: z.enum(evacuationPhases), sinceMs: z.number(), dnsClear: z.boolean().optional() })
    .optional(),
  /** Follow the sun: the clock an operator set at run time (absent: the planet file's). */
  sunClock: z
    .object({
      clockSpeed: z.number().positive().max(sunClockSpeedMax),
      anchorRealMs: z.number().finite(),
      anchorSimMs: z.number().finite(),
    })
    .optional(),
  slots: z.array(slotSchema).max(instancesPerSiteMax),
  instances: z.array(instanceSchema).max(instancesPerSiteMax),
});

export type PersistedState = z.infer<typeof stateSchema>;
export type PersistedInstance = z.infer<typeof instanceSchema>;
export type PersistedSlot = z.infer<typeof slotSchema>;

/** The state of a supervisor's table as the file holds it. */
export function snapshot(t: {
  site: string;
  stopped: boolean;
  savedAtMs: number;
  desired: Record<TierName, number>;
  app: AppSpec;
  rollout: Rollout | undefined;
  evacuation?: SavedEvacuation;
  sunClock?: SunClock;
  slots: readonly Slot[];
}): PersistedState {
  return {
    format: stateFormat,
    site: t.site,
    stopped: t.stopped,
    savedAtMs: t.savedAtMs,
    desired: { ...t.desired },
    app: t.app,
    rollout: t.rollout ?? null,
    ...(t.evacuation ? { evacuation: t.evacuation } : {}),
    ...(t.sunClock ? { sunClock: { ...t.sunClock } } : {}),
    slots: t.slots.map((s) => ({
      key: s.key,
      tier: s.tier,
      restarts: s.restarts,
      failures: s.failures,
      retired: s.retired,
      ...(s.spec ? { spec: s.spec } : {}),
    })),
    instances: t.slots.flatMap((s) => {
      const i = s.instance;
      if (!i) return [];
      const { id, tier, host, port, version, pid, startTicks, startedAtMs, state } = i;
      return [{ id, tier, slot: s.key, host, port, version, pid, startTicks, startedAtMs, state }];
    }),
  };
}

export function stateFilePath(dir: string): string {
  return join(dir, "state.json");
}

export function saveState(file: string, state: PersistedState): void {
  writeFileAtomic(file, `${JSON.stringify(state, null, 1)}\n`);
}

/** The saved state, or undefined when there is none; throws when it exists but cannot be read. */
export function loadState(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw supervisorErrors.create("RS_ERR_CATTLE_SUPERVISOR_STATE", file, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw supervisorErrors.create("RS_ERR_CATTLE_SUPERVISOR_STATE", `${file}: not JSON`, { cause: err });
  }
  const r = stateSchema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw supervisorErrors.create(
      "RS_ERR_CATTLE_SUPERVISOR_STATE",
      `${file}: ${issue?.path.join(".") || "(top level)"}: ${issue?.message}`,
    );
  }
  return r.data;
}
