// `redshirt dns --planet FILE --site NAME [--index K]`: runs one GSLB DNS server of the
// planet, on its site's DNS address (127.x.3.K, the planet's DNS port); its admin endpoint
// is on its management address (127.x.7.K) at the DNS port + 1.

import { loadPlanet } from "../topology/index.ts";
import { runDnsServer } from "../traffic/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("dns", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    index: { type: "string", default: "1" },
  });
  if (!values.site) throw cliErrors.create("RS_ERR_CLI_USAGE", "dns: --site NAME is required");
  const index = Number(values.index);
  if (!Number.isInteger(index) || index < 1)
    throw cliErrors.create("RS_ERR_CLI_USAGE", "dns: --index must be 1 or more");
  return await runDnsServer(loadPlanet(values.planet), { site: values.site, index });
}
