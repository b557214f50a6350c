// `redshirt planet [--planet FILE]`: validates a planet file and prints what it describes.
import { greatCircleKm, loadPlanet, rttMsForKm } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";

export async function run(args: string[]): Promise<number> {
  const { values } = parseCommandArgs("planet", args, { planet: { type: "string", default: "examples/planet.yaml" } });
  const planet = loadPlanet(values.planet);
  console.log(`planet ${planet.name}: zone ${planet.zone}, ${planet.sites.length} sites`);
  for (const s of planet.sites) {
    console.log(
      `  ${s.name.padEnd(8)} ${s.city.padEnd(16)} ${s.subnetCidr.text.padEnd(16)} store×${s.tiers.store} gateway×${s.tiers.gateway} dns×${s.tiers.dns} app×${s.tiers.app}`,
    );
  }
  console.log("round-trip times implied by distance:");
  for (const a of planet.sites) {
    for (const b of planet.sites) {
      if (a.index >= b.index) continue;
      const km = greatCircleKm(a, b);
      console.log(`  ${a.name} ↔ ${b.name}: ${Math.round(km)} km, RTT ${rttMsForKm(km, planet.wan).toFixed(1)} ms`);
    }
  }
  const w = planet.wan;
  if (w.mode === "direct") console.log("wan: direct (real hosts dial each other; no link processes)");
  else {
    console.log(
      `wan: emulated — jitter ${w.jitterMs} ms, bandwidth ${w.bandwidthMbps ? `${w.bandwidthMbps} Mb/s` : "unlimited"}, loss ${w.lossPct} %; link admin ${planet.wanProcesses.map((p) => `${p.host}:${p.port}`).join(" ")}`,
    );
    for (const r of planet.regions) console.log(`  region ${r.name.padEnd(12)} users on ${r.subnetCidr.text}`);
  }
  return 0;
}
