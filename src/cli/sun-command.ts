// `redshirt sun speed N [--planet FILE]`: sets the follow-the-sun clock's speed on every site
// at once (N× real time; 1 is real time), continuing from the simulated time it shows now;
// `redshirt sun` shows each site's clock. Exit 1 when a site did not take it (run it again:
// it re-anchors from the clock the sites run).
import { currentSunClock, hourMs, planetStatus, setSunSpeed, sunAnchorSkewMsMax } from "../cattle/index.ts";
import { sunClockSpeedMax } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

const usage = "usage: redshirt sun [speed N] [--planet FILE]   (N: 1 is real time, 3600 a day in 24 s)";

function utc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace("T", " ");
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("sun", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
  });
  const [verb, speedText, ...rest] = positionals;
  if (verb === undefined) {
    const ctl = planetControl(values.planet);
    const clock = await currentSunClock(ctl);
    console.log(`sun clock ×${clock.clockSpeed} (anchored at ${new Date(clock.anchorRealMs).toISOString()})`);
    for (const a of await planetStatus(ctl)) {
      if (!a.reachable) console.log(`  ${a.site}: not answering (${a.code})`);
      else if (a.status.sun) {
        const s = a.status.sun;
        console.log(
          `  ${a.site}: ×${s.clockSpeed}, simulated ${utc(s.simUtcMs)} UTC, local ${s.localHour.toFixed(1)} h`,
        );
      }
    }
    return 0;
  }
  if (verb !== "speed" || speedText === undefined || rest.length > 0) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `sun: takes speed N (got ${JSON.stringify(positionals)})\n${usage}`);
  }
  const n = Number(speedText.replace(/x$/i, ""));
  if (!/^\d+(\.\d+)?x?$/i.test(speedText) || !(n > 0) || n > sunClockSpeedMax) {
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `N: a number above 0 and at most ${sunClockSpeedMax} (got ${JSON.stringify(speedText)})\n${usage}`,
    );
  }
  const ctl = planetControl(values.planet);
  const out = await setSunSpeed(ctl, n);
  console.log(
    `sun clock ×${out.clock.clockSpeed} from ${utc(out.simUtcMs)} UTC (simulated): an hour passes in ${(hourMs / n / 1000).toFixed(n >= 3600 ? 2 : 0)} s`,
  );
  let failed = 0;
  for (const s of out.sites) {
    if (s.ok)
      console.log(
        `  ${s.site}: ×${s.sun.clockSpeed}, local ${s.sun.localHour.toFixed(1)} h, ${s.sun.instances} app instances`,
      );
    else {
      failed++;
      console.log(`  ${s.site}: not set: ${s.code}: ${s.error}`);
    }
  }
  if (failed > 0) {
    console.error(
      `sun: ${failed} site(s) kept their old clock; run the command again once they answer (anchors within ${sunAnchorSkewMsMax / 60_000} min of each site's clock)`,
    );
    return 1;
  }
  return 0;
}
