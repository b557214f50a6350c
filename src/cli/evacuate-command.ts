// `redshirt evacuate SITE [--planet FILE] [--no-wait]`: steers the site's users to the other
// sites (its DNS weight 0 on every DNS server, until no answer lists it), then drains its app
// tier to 0; its store keeps replicating. Refuses to evacuate the last site serving users.
// `redshirt restore SITE` (restore-command.ts) brings it back. Both print each step and are
// idempotent; the work is the supervisor's, so it goes on if this command is stopped.
import { evacuateSite, evacuateWaitMsDefault, restoreSite } from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

export async function runEvacuation(verb: "evacuate" | "restore", args: string[]): Promise<number> {
  const usage = `usage: redshirt ${verb} SITE [--planet FILE] [--no-wait] [--wait-s N]`;
  const { values, positionals } = parseCommandArgs(verb, args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    "no-wait": { type: "boolean", default: false },
    "wait-s": { type: "string", default: String(evacuateWaitMsDefault / 1000) },
  });
  if (positionals.length !== 1) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `${verb}: takes SITE (got ${positionals.length} arguments)\n${usage}`);
  }
  const waitS = Number(values["wait-s"]);
  if (!Number.isFinite(waitS) || waitS <= 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `${verb}: --wait-s must be a positive number of seconds\n${usage}`);
  }
  const [site] = positionals;
  const ctl = planetControl(values.planet);
  const t0 = performance.now();
  const progress = (line: string) =>
    console.log(`  ${((performance.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${line}`);
  const options = { wait: !values["no-wait"], waitMs: waitS * 1000, progress };
  console.log(`${verb} ${site}…`);
  const view = verb === "evacuate" ? await evacuateSite(ctl, site, options) : await restoreSite(ctl, site, options);
  const took = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(values["no-wait"] ? `${site}: ${view.phase} (not waiting)` : `${site}: ${view.phase} after ${took} s`);
  return 0;
}

export function run(args: string[]): Promise<number> {
  return runEvacuation("evacuate", args);
}
