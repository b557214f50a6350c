// `redshirt chaos …`: inject one fault, list or heal the planet's faults, or run the monkey.
// Every fault has a --ttl and is held by a long-lived party (the site's supervisor or the
// WAN link process) that reverts it at expiry even if this command is killed. Each fault
// injected is printed as its history record (JSON, src/verify's format). docs/chaos.md.
import { type ChaosOptions, createChaos, type FaultSpec, monkeyKindsDefault } from "../chaos/index.ts";
import { systemClock } from "../core/index.ts";
import { type FaultKind, faultKinds } from "../verify/index.ts";
import { parseCommandArgs } from "./args.ts";
import { planetControl } from "./control-args.ts";
import { cliErrors } from "./errors.ts";

const usage = `usage: redshirt chaos ACTION [--planet FILE] [--ttl D] …
  kill-instance --site S (--slot SLOT | --instance ID)   SIGKILL, held down until the TTL
  kill-tier     --site S --tier store|app|gateway|dns|wan
  kill-site     --site S                                 every process of the site (a power loss)
  pause         --site S (--slot SLOT | --instance ID)   SIGSTOP, SIGCONT at the TTL
  partition     A B                                      cut the WAN links between two sites
  slow          A B [--delay-ms N] [--bandwidth-mbps N]  slow the links between two places
  skew          --node STORE-NODE --offset-ms N          offset a store node's wall clock
  empty-disk    --node STORE-NODE                        SIGKILL, delete its data, back empty at the TTL
  monkey        --seed N --rate N (per minute) [--duration D] [--kinds a,b] [--sites a,b]
  list          [--json]
  heal          ID | --all
durations: 500ms, 30s, 2m (default --ttl 30s)`;

const actions = [
  "kill-instance",
  "kill-tier",
  "kill-site",
  "pause",
  "partition",
  "slow",
  "skew",
  "empty-disk",
  "monkey",
  "list",
  "heal",
];

/** A duration: 500ms, 30s, 2m, 1h, or a number of ms. */
export function parseDurationMs(text: string, field: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m)
    throw cliErrors.create(
      "RS_ERR_CLI_USAGE",
      `chaos: ${field}: ${JSON.stringify(text)} is not a duration (500ms, 30s, 2m)`,
    );
  const scale = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"];
  return Math.round(Number(m[1]) * scale);
}

function parseNumber(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `chaos: ${field}: ${JSON.stringify(text)} is not a number`);
  }
  return n;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("chaos", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    ttl: { type: "string", default: "30s" },
    site: { type: "string" },
    tier: { type: "string" },
    slot: { type: "string" },
    instance: { type: "string" },
    node: { type: "string" },
    "offset-ms": { type: "string" },
    "delay-ms": { type: "string" },
    "bandwidth-mbps": { type: "string" },
    seed: { type: "string" },
    rate: { type: "string" },
    duration: { type: "string" },
    kinds: { type: "string" },
    sites: { type: "string" },
    all: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  });
  const [action, ...rest] = positionals;
  if (!action || !actions.includes(action)) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `chaos: unknown action ${JSON.stringify(action ?? "")}\n${usage}`);
  }
  const ctl = planetControl(values.planet);
  const options: ChaosOptions = { planet: ctl.planet, secret: ctl.secret, clock: systemClock };
  const chaos = createChaos(options);
  try {
    const ttlMs = parseDurationMs(values.ttl, "--ttl");
    if (action === "list") {
      const listing = await chaos.list();
      if (values.json) console.log(JSON.stringify(listing, null, 2));
      else {
        if (listing.faults.length === 0) console.log("no faults held");
        for (const f of listing.faults) {
          const target = [
            f.site,
            f.peer && `↔ ${f.peer}`,
            f.slot ?? f.tier,
            f.instance && f.instance !== f.slot ? f.instance : null,
          ]
            .filter(Boolean)
            .join(" ");
          console.log(
            `${f.id.padEnd(14)} ${f.kind.padEnd(13)} ${target.padEnd(36)} reverts in ${(f.expiresInMs / 1000).toFixed(1)} s  (${f.heldBy})`,
          );
        }
        for (const u of listing.unreachable) console.log(`! ${u.party} did not answer: ${u.error}`);
      }
      return 0;
    }
    if (action === "heal") {
      if (values.all === rest.length > 0 || rest.length > 1) {
        throw cliErrors.create("RS_ERR_CLI_USAGE", "chaos heal: give one fault ID or --all");
      }
      const ends = values.all ? await chaos.healAll() : [await chaos.heal(rest[0])];
      for (const e of ends) console.log(JSON.stringify(e));
      if (!values.json) console.error(`healed ${ends.length} fault${ends.length === 1 ? "" : "s"}`);
      return 0;
    }
    if (action === "monkey") return await runMonkey(chaos, values, ttlMs);
    const spec = specOf(action, rest, values, ttlMs);
    const record = await chaos.inject(spec);
    console.log(JSON.stringify(record));
    if (!values.json)
      console.error(
        `${record.id}: ${record.kind} on ${record.target.site}${record.target.peer ? `↔${record.target.peer}` : ""}, reverts itself in ${(ttlMs / 1000).toFixed(1)} s (heal early: redshirt chaos heal ${record.id})`,
      );
    return 0;
  } finally {
    await chaos.close();
  }
}

type Values = Record<string, string | boolean | undefined>;

function specOf(action: string, rest: string[], v: Values, ttlMs: number): FaultSpec {
  const str = (k: string) => v[k] as string | undefined;
  const pair = (): [string, string] => {
    if (rest.length !== 2)
      throw cliErrors.create("RS_ERR_CLI_USAGE", `chaos ${action}: takes A B (got ${rest.length} arguments)`);
    return [rest[0], rest[1]];
  };
  if (action !== "partition" && action !== "slow" && rest.length > (action === "kill-site" ? 1 : 0)) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `chaos ${action}: unexpected argument ${JSON.stringify(rest[0])}`);
  }
  switch (action) {
    case "kill-instance":
    case "pause":
      return { kind: action, site: str("site"), slot: str("slot"), instance: str("instance"), ttlMs };
    case "kill-tier":
      return { kind: "kill-tier", site: str("site"), tier: str("tier") as FaultSpec["tier"], ttlMs };
    case "kill-site":
      return { kind: "kill-site", site: rest[0] ?? str("site"), ttlMs };
    case "partition": {
      const [a, b] = pair();
      return { kind: "partition", site: a, peer: b, ttlMs };
    }
    case "slow": {
      const [a, b] = pair();
      return {
        kind: "slow-link",
        site: a,
        peer: b,
        extraDelayMs: parseNumber(str("delay-ms"), "--delay-ms"),
        bandwidthMbps: parseNumber(str("bandwidth-mbps"), "--bandwidth-mbps"),
        ttlMs,
      };
    }
    case "skew":
      return { kind: "clock-skew", node: str("node"), offsetMs: parseNumber(str("offset-ms"), "--offset-ms"), ttlMs };
    default:
      return { kind: "empty-disk", node: str("node"), ttlMs };
  }
}

async function runMonkey(chaos: ReturnType<typeof createChaos>, v: Values, ttlMs: number): Promise<number> {
  const seed = parseNumber(v.seed as string | undefined, "--seed") ?? Math.floor(Math.random() * 2 ** 31);
  const ratePerMin = parseNumber(v.rate as string | undefined, "--rate") ?? 6;
  const durationMs = v.duration === undefined ? undefined : parseDurationMs(v.duration as string, "--duration");
  const kinds = (v.kinds as string | undefined)?.split(",").map((k) => k.trim()) ?? [...monkeyKindsDefault];
  for (const k of kinds) {
    if (!(faultKinds as readonly string[]).includes(k)) {
      throw cliErrors.create(
        "RS_ERR_CLI_USAGE",
        `chaos monkey: --kinds: ${JSON.stringify(k)} (kinds: ${faultKinds.join(", ")})`,
      );
    }
  }
  const sites = (v.sites as string | undefined)?.split(",").map((s) => s.trim());
  console.error(
    `monkey: seed ${seed}, ${ratePerMin} faults/min, ttl ${ttlMs} ms${durationMs ? `, for ${durationMs} ms` : " (Ctrl-C stops; held faults revert at their TTL)"}`,
  );
  const monkey = chaos.monkey({
    seed,
    ratePerMin,
    ttlMs,
    kinds: kinds as FaultKind[],
    ...(sites ? { sites } : {}),
    onFault: (r) => console.log(JSON.stringify(r)),
    onError: (err, spec) =>
      console.error(`monkey: ${spec.kind} on ${spec.site ?? spec.node}: ${(err as Error).message}`),
  });
  await new Promise<void>((resolve) => {
    // The clock's timers are unref'd: this one keeps the process alive while the monkey runs.
    const alive = setInterval(() => {}, 60_000);
    const done = () => {
      clearInterval(alive);
      resolve();
    };
    process.once("SIGINT", done);
    process.once("SIGTERM", done);
    if (durationMs !== undefined) setTimeout(done, durationMs);
  });
  await monkey.stop();
  console.error(
    `monkey: ${monkey.injected} injected, ${monkey.blocked} turns blocked by limits, ${monkey.failed} failed`,
  );
  return monkey.failed > 0 ? 1 : 0;
}
