// `redshirt wan` has two faces:
// - `redshirt wan --planet FILE --site NAME`: runs one site's WAN link process (its outbound
//   links to the other sites and the access links from client regions to it), with its
//   admin endpoint on the site's .5.1 address (started by the supervisor).
// - `redshirt wan cut|heal A B`, `redshirt wan slow A B [--delay-ms N] [--bandwidth-mbps N|none]`
//   and `redshirt wan links [--json]`: the operator's view, through the link processes'
//   admin endpoints (the planet operations in src/cattle/control). Details: docs/wan.md.
import { type WanAction, wanChange, wanLinks } from "../cattle/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { type LinkSlow, type LinkStatus, runWanProcess } from "../wan/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

const usage =
  "usage: redshirt wan cut|heal A B | wan slow A B [--delay-ms N] [--bandwidth-mbps N|none] | wan links [--json] | wan --site NAME";
const actions = ["cut", "heal", "slow", "links"];

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("wan", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    json: { type: "boolean", default: false },
    "delay-ms": { type: "string" },
    "bandwidth-mbps": { type: "string" },
  });
  if (positionals.length === 0) return await runProcess(values.planet, values.site);
  const [action, ...rest] = positionals;
  if (!actions.includes(action)) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `wan: unknown action ${JSON.stringify(action)}\n${usage}`);
  }
  const ctl = planetControl(values.planet);
  if (action === "links") {
    if (rest.length > 0) throw cliErrors.create("RS_ERR_CLI_USAGE", `wan links: takes no arguments\n${usage}`);
    const links = await wanLinks(ctl);
    if (values.json) console.log(JSON.stringify(links, null, 2));
    else printTable(links);
    return 0;
  }
  if (rest.length !== 2) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `wan ${action}: takes A B (got ${rest.length} arguments)\n${usage}`);
  }
  const change = action === "slow" ? slowOf(values["delay-ms"], values["bandwidth-mbps"]) : {};
  if (action !== "slow" && (values["delay-ms"] !== undefined || values["bandwidth-mbps"] !== undefined)) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `wan ${action}: --delay-ms and --bandwidth-mbps go with slow`);
  }
  const links = await wanChange(ctl, action as WanAction, rest[0], rest[1], change);
  for (const l of links) console.log(`${l.from}->${l.to}: ${describe(l)}`);
  if (values.json) console.log(JSON.stringify(links, null, 2));
  return 0;
}

function slowOf(delayText: string | undefined, bandwidthText: string | undefined): LinkSlow {
  if (delayText === undefined && bandwidthText === undefined) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", "wan slow: give --delay-ms N, --bandwidth-mbps N (or none), or both");
  }
  const out: { extraDelayMs?: number; bandwidthMbps?: number | null } = {};
  if (delayText !== undefined) {
    const n = Number(delayText);
    if (delayText.trim() === "" || !Number.isFinite(n) || n < 0) {
      throw cliErrors.create(
        "RS_ERR_CLI_USAGE",
        `wan slow: --delay-ms: ${JSON.stringify(delayText)} is not a number ≥ 0`,
      );
    }
    out.extraDelayMs = n;
  }
  if (bandwidthText !== undefined) {
    const n = Number(bandwidthText);
    if (bandwidthText === "none") out.bandwidthMbps = null;
    else if (bandwidthText.trim() === "" || !Number.isFinite(n) || n <= 0) {
      throw cliErrors.create(
        "RS_ERR_CLI_USAGE",
        `wan slow: --bandwidth-mbps: ${JSON.stringify(bandwidthText)} is not a number > 0 (or none to lift the limit)`,
      );
    } else out.bandwidthMbps = n;
  }
  return out;
}

function describe(l: LinkStatus): string {
  const bw = l.bandwidthMbps === null ? "unlimited" : `${l.bandwidthMbps} Mbit/s`;
  return `${l.cut ? "CUT" : "up"}, one way ${l.oneWayMs.toFixed(1)} ms + ${l.extraDelayMs} ms extra, ${bw}`;
}

function printTable(links: readonly LinkStatus[]): void {
  const rows = links.map((l) => [
    `${l.from}->${l.to}`,
    l.fromKind,
    String(Math.round(l.distanceKm)),
    l.rttMs.toFixed(1),
    String(l.extraDelayMs),
    l.bandwidthMbps === null ? "-" : String(l.bandwidthMbps),
    l.cut ? "CUT" : "up",
    String(l.connections.open),
  ]);
  const head = ["LINK", "FROM", "KM", "RTT_MS", "EXTRA_MS", "MBPS", "STATE", "OPEN"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows])
    console.log(
      r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    );
}

async function runProcess(planetFile: string, site: string | undefined): Promise<number> {
  if (!site) throw cliErrors.create("RS_ERR_CLI_USAGE", `wan: --site NAME is required to run a link process\n${usage}`);
  const planet = loadPlanet(planetFile);
  if (!planet.sites.some((s) => s.name === site)) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `wan: --site ${JSON.stringify(site)} is not a site of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  return await runWanProcess(planet, { site });
}
