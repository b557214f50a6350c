// `redshirt status [--planet FILE] [--json]`: asks every site's supervisor for its tiers
// (desired vs ready) and instances (state, pid, address, age, restarts, back-off). A site
// whose supervisor does not answer is shown from its registry instead (leases and health
// checks: a site run by Kubernetes or systemd, registry-status.ts); the exit code is 3 when
// such a site is not ready either.
import {
  type DnsWeightsAnswer,
  dnsWeights,
  planetStatus,
  type SiteAnswer,
  type SiteStatus,
  type WanAnswer,
  wanStatus,
} from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { formatAgeMs, planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";
import { type RegistrySiteView, registrySiteView, registryViewText } from "./registry-status.ts";

function siteText(s: SiteStatus): string[] {
  const lines: string[] = [];
  const tiers = s.tiers.map((t) => `${t.tier} ${t.ready}/${t.desired}`).join("  ");
  lines.push(
    `${s.site.padEnd(6)} ${s.ready ? "ready" : "NOT READY"}${s.evacuation.phase === "serving" ? "" : ` ${s.evacuation.phase.toUpperCase()}`}  ${tiers}   supervisor pid ${s.supervisor.pid} at ${s.supervisor.address} (${s.supervisor.state})`,
  );
  const e = s.evacuation;
  if (e.phase !== "serving") {
    const w = e.weightCheck
      ? `, DNS weight ${e.weight} on ${e.weightCheck.confirmed}/${e.weightCheck.total} servers`
      : "";
    lines.push(
      `  ${e.phase.toUpperCase()} since ${new Date(e.sinceMs).toISOString()}${w}; app desired ${s.appDesired} on restore`,
    );
  }
  if (s.sun) {
    const h = Math.floor(s.sun.localHour);
    const m = Math.floor((s.sun.localHour - h) * 60);
    lines.push(
      `  sun: local ${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")} (clock ×${s.sun.clockSpeed}), demand ${(s.sun.share * 100).toFixed(0)}% → ${s.sun.instances} of ${s.sun.peakInstances} app instances, weight ${s.sun.weight}`,
    );
  }
  for (const f of s.faults ?? []) {
    const target = f.slot ?? f.tier ?? "the whole site";
    lines.push(
      `  FAULT ${f.id}: ${f.kind} ${target}, reverts in ${(f.expiresInMs / 1000).toFixed(1)} s (redshirt chaos heal ${f.id})`,
    );
  }
  const ro = s.rollout;
  if (ro && (ro.state === "rolling" || ro.state === "rolling-back")) {
    lines.push(
      `  rollout ${ro.id}: ${ro.state} ${ro.from.version} → ${ro.to.version}, ${ro.updated}/${ro.desired} updated, ${ro.old} old${ro.reason ? ` (${ro.reason})` : ""}`,
    );
  } else if (ro) {
    lines.push(
      `  last rollout ${ro.id}: ${ro.state} (${ro.from.version} → ${ro.to.version})${ro.reason ? `: ${ro.reason}` : ""}`,
    );
  }
  lines.push(
    `  ${"slot".padEnd(12)} ${"state".padEnd(9)} ${"id".padEnd(18)} ${"pid".padEnd(7)} ${"address".padEnd(20)} ${"version".padEnd(8)} ${"age".padEnd(7)} restarts  back-off`,
  );
  for (const r of s.instances) {
    const backoff =
      r.nextStartInMs !== null ? `next start in ${r.nextStartInMs} ms` : r.failures > 0 ? `${r.backoffMs} ms` : "-";
    const exit = r.lastExit ? `  (last: ${r.lastExit.how})` : "";
    lines.push(
      `  ${r.slot.padEnd(12)} ${r.state.padEnd(9)} ${(r.id ?? "-").padEnd(18)} ${String(r.pid ?? "-").padEnd(7)} ${(r.address ?? "-").padEnd(20)} ${(r.version ?? "-").padEnd(8)} ${formatAgeMs(r.ageMs).padEnd(7)} ${String(r.restarts).padEnd(9)} ${backoff}${exit}`,
    );
  }
  return lines;
}

/** DNS weights per server on one line each; servers that agree share a line. */
function dnsText(dns: readonly DnsWeightsAnswer[]): string[] {
  if (dns.length === 0) return [];
  const lines = ["DNS weights (0–100 per site)"];
  const byView = new Map<string, string[]>();
  for (const d of dns) {
    const view = d.reachable
      ? Object.entries(d.weights)
          .map(([site, w]) => `${site} ${w}`)
          .join("  ")
      : `NOT ANSWERING: ${d.error}`;
    byView.set(view, [...(byView.get(view) ?? []), d.server]);
  }
  for (const [view, servers] of byView) lines.push(`  ${view}   (${servers.join(", ")})`);
  return lines;
}

/** The emulated WAN: one line per link, its round trip and whether it is cut or slowed. */
function wanText(wan: WanAnswer): string[] {
  if (!wan.emulated) return ["WAN: direct (real network, no emulated links)"];
  if (!wan.reachable) return [`WAN: link processes NOT ANSWERING  ${wan.code}: ${wan.error}`];
  const lines = ["WAN links (emulated)"];
  for (const l of wan.links) {
    const notes = [l.cut ? "CUT" : "", l.extraDelayMs > 0 ? `slowed +${l.extraDelayMs} ms` : ""].filter(Boolean);
    lines.push(
      `  ${`${l.from} → ${l.to}`.padEnd(22)} ${String(l.distanceKm).padStart(6)} km  rtt ${l.rttMs.toFixed(1).padStart(6)} ms${notes.length > 0 ? `  ${notes.join(", ")}` : ""}`,
    );
  }
  return lines;
}

export function statusText(
  answers: readonly SiteAnswer[],
  dns: readonly DnsWeightsAnswer[] = [],
  wan?: WanAnswer,
  registryViews: ReadonlyMap<string, RegistrySiteView> = new Map(),
): string {
  const out: string[] = [];
  for (const a of answers) {
    // A site of which nothing answers stays one line, as before; one that serves without a supervisor shows its view.
    const view = registryViews.get(a.site);
    const answersAtAll = view?.instances.some((r) => r.state !== "down") === true;
    if (a.reachable) out.push(...siteText(a.status));
    else if (view && answersAtAll) out.push(...registryViewText(view, a.code));
    else out.push(`${a.site.padEnd(6)} NOT ANSWERING  ${a.code}: ${a.error}`);
    out.push("");
  }
  const dnsLines = dnsText(dns);
  if (dnsLines.length > 0) out.push(...dnsLines, "");
  if (wan) out.push(...wanText(wan), "");
  return out.join("\n");
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("status", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    json: { type: "boolean", default: false },
  });
  if (positionals.length > 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `status: takes no arguments (got ${JSON.stringify(positionals[0])})`);
  }
  const ctl = planetControl(values.planet);
  const [answers, dns, wan] = await Promise.all([planetStatus(ctl), dnsWeights(ctl), wanStatus(ctl)]);
  // A site without a supervisor of ours (Kubernetes, systemd) is read from its registry.
  const views = new Map(
    await Promise.all(
      answers
        .filter((a) => !a.reachable)
        .map(async (a) => [a.site, await registrySiteView(ctl.planet, a.site)] as const),
    ),
  );
  if (values.json) {
    const sites = answers.map((a) =>
      a.reachable
        ? { reachable: true, ...a.status }
        : { site: a.site, reachable: false, code: a.code, error: a.error, registry: views.get(a.site) },
    );
    process.stdout.write(`${JSON.stringify({ api: 1, planet: ctl.planet.name, sites, dns, wan }, null, 1)}\n`);
  } else process.stdout.write(statusText(answers, dns, wan, views));
  const viewReady = (v: RegistrySiteView | undefined) => v?.tiers.every((t) => t.ready >= t.desired) === true;
  return answers.every((a) => a.reachable || viewReady(views.get(a.site))) ? 0 : 3;
}
