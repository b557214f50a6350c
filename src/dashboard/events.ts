// The event log: what happened on the planet, in words, in the order the dashboard learnt it
// — faults injected and ended, instances replaced and ready, supervisors lost and back,
// evacuations, users failing over to another site, and every action taken from the page.
// Most entries come from comparing two consecutive status polls (diffStatus); a bounded ring.
import type { SiteAnswer } from "../cattle/index.ts";
import { eventsMax } from "./constants.ts";

export const eventKinds = [
  "fault",
  "fault-end",
  "replaced",
  "ready",
  "gone",
  "site",
  "failover",
  "deploy",
  "action",
  "error",
] as const;
export type EventKind = (typeof eventKinds)[number];

export type DashboardEvent = {
  readonly seq: number;
  readonly atMs: number;
  readonly kind: EventKind;
  readonly site: string | null;
  readonly text: string;
};

export class EventLog {
  #events: DashboardEvent[] = [];
  #seq = 0;
  readonly #now: () => number;
  readonly #onEvent: (e: DashboardEvent) => void;

  constructor(onEvent: (e: DashboardEvent) => void, now: () => number = Date.now) {
    this.#onEvent = onEvent;
    this.#now = now;
  }

  add(kind: EventKind, site: string | null, text: string): DashboardEvent {
    const e: DashboardEvent = { seq: ++this.#seq, atMs: this.#now(), kind, site, text };
    this.#events.push(e);
    if (this.#events.length > eventsMax) this.#events.shift();
    this.#onEvent(e);
    return e;
  }

  list(): readonly DashboardEvent[] {
    return this.#events;
  }
}

/** faultId: the fault an event is about, so a fault learnt from two sources (the monkey, a status poll) is logged once. */
type Emit = (kind: EventKind, site: string | null, text: string, faultId?: string) => void;

/** The events between two polls of one site's status. */
export function diffStatus(before: SiteAnswer | undefined, now: SiteAnswer, emit: Emit): void {
  const site = now.site;
  if (!before) return;
  if (before.reachable && !now.reachable) {
    emit("site", site, `${site}: supervisor not answering (${now.code})`);
    return;
  }
  if (!before.reachable && now.reachable) emit("site", site, `${site}: supervisor answering again`);
  if (!before.reachable || !now.reachable) return;
  const a = before.status;
  const b = now.status;
  if (a.evacuation.phase !== b.evacuation.phase) emit("site", site, `${site}: ${b.evacuation.phase}`);
  const r = b.rollout;
  if (r && (r.id !== a.rollout?.id || r.state !== a.rollout?.state)) {
    const why = r.reason ? ` (${r.reason})` : "";
    emit(
      "deploy",
      site,
      `${site}: deploy ${r.from.version} → ${r.to.version} ${r.state}${why}, ${r.updated}/${r.desired} updated`,
    );
  }
  const faultsBefore = new Set(a.faults.map((f) => f.id));
  const faultsNow = new Set(b.faults.map((f) => f.id));
  for (const f of b.faults) {
    if (!faultsBefore.has(f.id)) {
      const what = f.slot ?? f.tier ?? "the whole site";
      emit("fault", site, `${site}: ${f.kind} ${what} (${f.id}, ttl ${Math.round(f.ttlMs / 1000)} s)`, f.id);
    }
  }
  for (const f of a.faults) {
    if (!faultsNow.has(f.id)) emit("fault-end", site, `${site}: ${f.kind} ${f.id} ended`, f.id);
  }
  const slotsBefore = new Map(a.instances.map((r) => [r.slot, r]));
  for (const r of b.instances) {
    const old = slotsBefore.get(r.slot);
    if (!old) continue;
    if (old.id && r.id && old.id !== r.id) {
      emit("replaced", site, `${site} ${r.slot}: ${old.id} replaced by ${r.id}`);
    } else if (old.id && !r.id) {
      emit("gone", site, `${site} ${r.slot}: ${old.id} gone (${r.lastExit?.how ?? r.state})`);
    } else if (!old.id && r.id) {
      emit("replaced", site, `${site} ${r.slot}: ${r.id} started`);
    }
    if (r.id && r.state === "ready" && (old.state !== "ready" || old.id !== r.id)) {
      const took = r.lastReplaceMs !== null ? `, replaced in ${r.lastReplaceMs} ms` : "";
      emit("ready", site, `${site} ${r.slot}: ${r.id} ready${took}`);
    }
  }
}

/** Users of a region served mostly by another site than before: a failover (or a failback). */
export function diffServing(before: ReadonlyMap<string, string>, now: ReadonlyMap<string, string>, emit: Emit): void {
  for (const [region, site] of now) {
    const was = before.get(region);
    if (was && was !== site) emit("failover", site, `users of ${region} now served by ${site} (were by ${was})`);
  }
}
