// `redshirt deploy VERSION [--site S] [--app FILE] [--max-surge N] [--max-unavailable N]
// [--wait]`: rolls the app tier of one site (or every site, in parallel) to a new version
// and, optionally, a new entry file. Never more than N + max-surge instances, never fewer
// than N − max-unavailable ready; a new instance that fails readiness twice halts the
// rollout and the old version is rolled back in. With --wait, waits (bounded) and exits 1
// when a site rolled back.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { deploySite, parseCount, siteStatus, siteTarget } from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

const usage =
  "usage: redshirt deploy VERSION [--site S] [--app FILE] [--max-surge N] [--max-unavailable N] [--wait] [--planet FILE]";
const waitMsMax = 300_000;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("deploy", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    app: { type: "string" },
    "max-surge": { type: "string" },
    "max-unavailable": { type: "string" },
    wait: { type: "boolean", default: false },
  });
  if (positionals.length !== 1) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `deploy: takes VERSION (got ${positionals.length} arguments)\n${usage}`);
  }
  const version = positionals[0];
  const ctl = planetControl(values.planet);
  const sites = values.site ? [values.site] : ctl.planet.sites.map((s) => s.name);
  for (const s of sites) siteTarget(ctl.planet, s, "--site");
  const entry = values.app ? resolve(values.app) : undefined;
  if (entry && !existsSync(entry)) throw cliErrors.create("RS_ERR_CLI_USAGE", `deploy: --app: ${entry} does not exist`);
  const request = {
    version,
    ...(entry ? { entry } : {}),
    ...(values["max-surge"] !== undefined ? { maxSurge: parseCount(values["max-surge"], "--max-surge") } : {}),
    ...(values["max-unavailable"] !== undefined
      ? { maxUnavailable: parseCount(values["max-unavailable"], "--max-unavailable") }
      : {}),
  };
  await Promise.all(
    sites.map(async (site) => {
      const r = await deploySite(ctl, site, request);
      console.log(`${site}: ${r.id} ${r.state} ${r.from.version} → ${r.to.version}`);
    }),
  );
  if (!values.wait) return 0;
  const deadline = Date.now() + waitMsMax;
  const last = new Map<string, string>();
  const ended = new Map<string, string>();
  while (ended.size < sites.length) {
    if (Date.now() > deadline) {
      console.error(`deploy: not finished within ${waitMsMax / 1000} s`);
      return 1;
    }
    for (const site of sites) {
      if (ended.has(site)) continue;
      const a = await siteStatus(ctl, site);
      const r = a.reachable ? a.status.rollout : null;
      if (!r) continue;
      const on = r.state === "rolling" || r.state === "done" ? r.to.version : r.from.version;
      const line = `  ${site}: ${r.state}, ${r.updated}/${r.desired} on ${on}, ${r.old} on the other${r.reason ? ` — ${r.reason}` : ""}`;
      if (line !== last.get(site)) console.log(line);
      last.set(site, line);
      if (r.state === "done" || r.state === "rolled-back") ended.set(site, r.state);
    }
    await new Promise((res) => setTimeout(res, 250));
  }
  return [...ended.values()].every((s) => s === "done") ? 0 : 1;
}
