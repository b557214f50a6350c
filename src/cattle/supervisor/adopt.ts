// What a starting supervisor finds: the processes a previous supervisor of this site left
// running (found by their owner tag in /proc, so even one started a moment before that
// supervisor died is found), matched to the saved instance table and to slots. Pure: the
// engine applies the plan (adopt, stop the duplicates, start what is missing).
import type { OwnedProcess } from "./processes.ts";
import type { InstanceState, PersistedInstance } from "./state-file.ts";
import { envNames, isTierName, type TierName } from "./tiers.ts";

export type Found = {
  readonly id: string;
  readonly tier: TierName;
  readonly slot: string;
  readonly host: string;
  readonly port: number;
  readonly version: string;
  readonly pid: number;
  readonly startTicks: number | undefined;
  /** Wall clock of its start: from the saved table, else unknown (adoption time). */
  readonly startedAtMs: number | undefined;
  /** The saved state: an instance that was draining or stopping goes on stopping. */
  readonly state: InstanceState;
};

export type AdoptionPlan = {
  readonly adopt: readonly Found[];
  /** Processes of ours that no slot wants: a second one for a slot, or a slot the planet lost. */
  readonly strays: readonly OwnedProcess[];
  /** Saved instances that are gone: their slots start again (a death seen now). */
  readonly gone: readonly PersistedInstance[];
};

export function planAdoption(
  saved: readonly PersistedInstance[],
  owned: readonly OwnedProcess[],
  slotExists: (tier: TierName, slot: string) => boolean,
): AdoptionPlan {
  const adopt: Found[] = [];
  const strays: OwnedProcess[] = [];
  const taken = new Set<string>();
  const byId = new Map(saved.map((r) => [r.id, r]));
  // Saved order first (the instance the table knew wins a slot over an unknown one).
  const ordered = [...owned].sort((a, b) => {
    const ka = byId.has(a.env.get(envNames.instanceId) ?? "") ? 0 : 1;
    const kb = byId.has(b.env.get(envNames.instanceId) ?? "") ? 0 : 1;
    return ka - kb || a.pid - b.pid;
  });
  for (const p of ordered) {
    const id = p.env.get(envNames.instanceId);
    const tier = p.env.get(envNames.tier) ?? "";
    const slot = p.env.get(envNames.slot);
    const host = p.env.get("HOST");
    const port = Number(p.env.get("PORT"));
    if (!id || !slot || !host || !Number.isInteger(port) || !isTierName(tier) || !slotExists(tier, slot)) {
      strays.push(p);
      continue;
    }
    const key = `${tier}/${slot}`;
    if (taken.has(key)) {
      strays.push(p);
      continue;
    }
    taken.add(key);
    const rec = byId.get(id);
    adopt.push({
      id,
      tier,
      slot,
      host,
      port,
      version: p.env.get(envNames.version) ?? "",
      pid: p.pid,
      startTicks: p.startTicks,
      startedAtMs: rec?.startedAtMs,
      state: rec?.state ?? "starting",
    });
  }
  const adoptedIds = new Set(adopt.map((a) => a.id));
  const gone = saved.filter((r) => !adoptedIds.has(r.id));
  return { adopt, strays, gone };
}
