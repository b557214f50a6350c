// `redshirt scale SITE TIER N [--planet FILE] [--wait]`: sets the desired count of a site's
// tier. Store, gateway and DNS tiers go up to their planet slots; app up to the site's
// address pool. With --wait, waits (bounded) until the tier has N ready instances.
import { controlErrors, parseCount, parseTier, scaleTier, siteStatus, siteTarget } from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

const usage = "usage: redshirt scale SITE TIER N [--planet FILE] [--wait]";
const waitMsMax = 120_000;

export async function run(args: string[]): Promise<number> {
  // parseArgs would take "-1" for an option: name the field instead.
  const negative = args.find((a) => /^-\d/.test(a));
  if (negative !== undefined) parseCount(negative, "N");
  const { values, positionals } = parseCommandArgs("scale", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    wait: { type: "boolean", default: false },
  });
  if (positionals.length !== 3) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `scale: takes SITE TIER N (got ${positionals.length} arguments)\n${usage}`,
    );
  }
  const [site, tierText, countText] = positionals;
  const ctl = planetControl(values.planet);
  siteTarget(ctl.planet, site, "SITE");
  const tier = parseTier(tierText, "TIER");
  parseCount(countText, "N");
  // The tier's maximum (its planet slots, or the app address pool) comes from the supervisor.
  const before = await siteStatus(ctl, site);
  if (!before.reachable) {
    throw controlErrors.create("RS_ERR_CATTLE_CONTROL_UNREACHABLE", `${site}: ${before.error}`);
  }
  const count = parseCount(countText, "N", before.status.tiers.find((t) => t.tier === tier)?.max);
  const row = await scaleTier(ctl, site, tier, count);
  console.log(`${site} ${tier}: desired ${row.desired} (ready ${row.ready}, running ${row.running})`);
  if (!values.wait) return 0;
  const deadline = Date.now() + waitMsMax;
  let last = "";
  for (;;) {
    const a = await siteStatus(ctl, site);
    if (a.reachable) {
      const t = a.status.tiers.find((x) => x.tier === tier);
      const line = `  ${tier}: ready ${t?.ready}, running ${t?.running} of ${t?.desired}`;
      if (line !== last) console.log(line);
      last = line;
      if (t && t.ready === t.desired && t.running === t.desired) return 0;
    }
    if (Date.now() > deadline) {
      console.error(`scale: ${site} ${tier} did not settle at ${count} within ${waitMsMax / 1000} s`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
