// `redshirt status [--planet FILE] [--json]`: asks every site's supervisor for its tiers
// (desired vs ready) and instances (state, pid, address, age, restarts, back-off). A site
// whose supervisor does not answer is shown as such, and the exit code is 3 then.
import { planetStatus, type SiteAnswer, type SiteStatus } from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { formatAgeMs, planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

function siteText(s: SiteStatus): string[] {
  const lines: string[] = [];
  const tiers = s.tiers.map((t) => `${t.tier} ${t.ready}/${t.desired}`).join("  ");
  lines.push(
    `${s.site.padEnd(6)} ${s.ready ? "ready" : "NOT READY"}  ${tiers}   supervisor pid ${s.supervisor.pid} at ${s.supervisor.address} (${s.supervisor.state})`,
  );
  lines.push(
    `  ${"slot".padEnd(12)} ${"state".padEnd(9)} ${"id".padEnd(18)} ${"pid".padEnd(7)} ${"address".padEnd(20)} ${"age".padEnd(7)} restarts  back-off`,
  );
  for (const r of s.instances) {
    const backoff =
      r.nextStartInMs !== null ? `next start in ${r.nextStartInMs} ms` : r.failures > 0 ? `${r.backoffMs} ms` : "-";
    const exit = r.lastExit ? `  (last: ${r.lastExit.how})` : "";
    lines.push(
      `  ${r.slot.padEnd(12)} ${r.state.padEnd(9)} ${(r.id ?? "-").padEnd(18)} ${String(r.pid ?? "-").padEnd(7)} ${(r.address ?? "-").padEnd(20)} ${formatAgeMs(r.ageMs).padEnd(7)} ${String(r.restarts).padEnd(9)} ${backoff}${exit}`,
    );
  }
  return lines;
}

export function statusText(answers: readonly SiteAnswer[]): string {
  const out: string[] = [];
  for (const a of answers) {
    if (a.reachable) out.push(...siteText(a.status));
    else out.push(`${a.site.padEnd(6)} NOT ANSWERING  ${a.code}: ${a.error}`);
    out.push("");
  }
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
  const answers = await planetStatus(ctl);
  if (values.json) {
    const sites = answers.map((a) =>
      a.reachable ? { reachable: true, ...a.status } : { site: a.site, reachable: false, code: a.code, error: a.error },
    );
    process.stdout.write(`${JSON.stringify({ api: 1, planet: ctl.planet.name, sites }, null, 1)}\n`);
  } else process.stdout.write(statusText(answers));
  return answers.every((a) => a.reachable) ? 0 : 3;
}
