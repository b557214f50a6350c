// `redshirt evacuate SITE` / `redshirt restore SITE` as planet-wide operations, for the CLI
// and the dashboard: the site's supervisor does the work (and carries on if the caller dies
// or the supervisor restarts: the phase is in its state file); these ask for it, refuse to
// evacuate the last site serving users, and follow the site's status until the phase is
// reached, reporting each step as it happens. Both are idempotent: asking again for what is
// done already, or under way, answers at once or waits for it.
import type { EvacuationResult, EvacuationView, SiteStatus } from "./api.ts";
import { callControl } from "./client.ts";
import { controlErrors } from "./errors.ts";
import { type PlanetControl, planetStatus, siteStatus, siteTarget } from "./operations.ts";

export const evacuateWaitMsDefault = 120_000;
const pollMs = 250;

export type EvacuationProgress = (line: string) => void;

/** A site serves users unless it is evacuated or on its way there. */
export function servesUsers(s: SiteStatus): boolean {
  return s.evacuation.phase === "serving" || s.evacuation.phase === "restoring";
}

/** One line per step, the same for every caller. */
export function describeStep(s: SiteStatus): string {
  const e = s.evacuation;
  const app = s.tiers.find((t) => t.tier === "app");
  const apps = `app ${app?.ready ?? 0} ready, ${app?.running ?? 0} running of ${app?.desired ?? 0}`;
  const w = e.weightCheck ? `weight ${e.weight} on ${e.weightCheck.confirmed}/${e.weightCheck.total} DNS servers` : "";
  const a = e.answers ? `listed by ${e.answers.listing}/${e.answers.answered} answering DNS servers` : "";
  return [`${s.site}: ${e.phase}${e.dnsClear ? " (users steered away)" : ""}`, w, a, apps].filter(Boolean).join(", ");
}

async function follow(
  ctl: PlanetControl,
  site: string,
  done: (s: SiteStatus) => boolean,
  options: { waitMs?: number; progress?: EvacuationProgress },
): Promise<SiteStatus> {
  const deadline = Date.now() + (options.waitMs ?? evacuateWaitMsDefault);
  let last = "";
  for (;;) {
    const a = await siteStatus(ctl, site);
    if (a.reachable) {
      const line = describeStep(a.status);
      if (line !== last) options.progress?.(line);
      last = line;
      if (done(a.status)) return a.status;
    } else if (last !== a.error) {
      options.progress?.(`${site}: supervisor not answering (${a.error}); waiting`);
      last = a.error;
    }
    if (Date.now() > deadline) {
      throw controlErrors.create("RS_ERR_CATTLE_CONTROL_TIMEOUT", `${site}: last seen ${last}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/**
 * Evacuates a site: users steered away first (weight 0 on every DNS server, until no DNS
 * answer lists the site), then its app tier drained to 0. Refuses when no other site would
 * be left serving. Resolves once the site is evacuated (or at once with wait: false).
 */
export async function evacuateSite(
  ctl: PlanetControl,
  site: string,
  options: { wait?: boolean; waitMs?: number; progress?: EvacuationProgress } = {},
): Promise<EvacuationView> {
  const target = siteTarget(ctl.planet, site, "SITE");
  const answers = await planetStatus(ctl);
  const self = answers.find((a) => a.site === site);
  if (!self?.reachable) {
    throw controlErrors.create(
      "RS_ERR_CATTLE_CONTROL_UNREACHABLE",
      `${site}: ${self?.reachable === false ? self.error : ""}`,
    );
  }
  if (servesUsers(self.status)) {
    const others = answers.filter((a) => a.site !== site && a.reachable && servesUsers(a.status));
    if (others.length === 0) {
      const seen = answers
        .filter((a) => a.site !== site)
        .map((a) => `${a.site}: ${a.reachable ? a.status.evacuation.phase : "supervisor not answering"}`);
      throw controlErrors.create(
        "RS_ERR_CATTLE_CONTROL_LAST_SITE",
        `SITE: ${site} is the last site serving users (${seen.join("; ") || "the planet has no other site"})`,
      );
    }
  }
  const r = await callControl<EvacuationResult>(target, ctl.secret, "evacuate", { timeoutMs: ctl.timeoutMs });
  if (options.wait === false) return r.evacuation;
  const s = await follow(ctl, site, (x) => x.evacuation.phase === "evacuated", options);
  return s.evacuation;
}

/** Restores a site: its app tier back to its count and ready, then its users. Resolves once it serves. */
export async function restoreSite(
  ctl: PlanetControl,
  site: string,
  options: { wait?: boolean; waitMs?: number; progress?: EvacuationProgress } = {},
): Promise<EvacuationView> {
  const target = siteTarget(ctl.planet, site, "SITE");
  const r = await callControl<EvacuationResult>(target, ctl.secret, "restore", { timeoutMs: ctl.timeoutMs });
  if (options.wait === false) return r.evacuation;
  const s = await follow(ctl, site, (x) => x.evacuation.phase === "serving", options);
  return s.evacuation;
}
