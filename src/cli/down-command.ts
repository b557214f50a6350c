// `redshirt down [--planet FILE]`: stops the planet — every site's supervisor stops its
// instances (apps, gateways and DNS first, store nodes last) and then itself — and waits
// until no process of the planet is left. A site whose supervisor is dead is stopped
// directly: its processes are found by the owner tag in their environment.
import { stopSite } from "../cattle/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("down", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
  });
  if (positionals.length > 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `down: takes no arguments (got ${JSON.stringify(positionals[0])})`);
  }
  const ctl = planetControl(values.planet);
  console.log(`stopping planet ${ctl.planet.name}: ${ctl.planet.sites.map((s) => s.name).join(", ")}…`);
  const outcomes = await Promise.all(
    ctl.planet.sites.map(async (s) => {
      const o = await stopSite(ctl, s.name);
      const how = o.via === "api" ? "by its supervisor" : "directly (its supervisor did not answer)";
      console.log(
        o.left.length === 0
          ? `  ✓ ${s.name}: ${o.processes} processes stopped ${how}`
          : `  ✗ ${s.name}: pids ${o.left.join(" ")} are still alive`,
      );
      return o;
    }),
  );
  return outcomes.every((o) => o.left.length === 0) ? 0 : 1;
}
