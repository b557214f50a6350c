// `redshirt wan --planet FILE --site NAME`: runs one site's WAN link process (its outbound
// links to the other sites and the access links from client regions to it), with its admin
// endpoint on the site's .5.1 address. Cutting and healing links by hand: docs/wan.md.
import { loadPlanet } from "../topology/index.ts";
import { runWanProcess } from "../wan/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("wan", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
  });
  if (positionals.length > 0) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `wan: takes no arguments (got ${JSON.stringify(positionals[0])}); to cut, heal or slow a link use its admin endpoint (docs/wan.md)`,
    );
  }
  if (!values.site) throw cliErrors.create("RS_ERR_CLI_USAGE", "wan: --site NAME is required");
  const planet = loadPlanet(values.planet);
  if (!planet.sites.some((s) => s.name === values.site)) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `wan: --site ${JSON.stringify(values.site)} is not a site of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  return await runWanProcess(planet, { site: values.site });
}
