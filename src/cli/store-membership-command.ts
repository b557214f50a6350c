// `redshirt store join|leave|replace|members`: changes (or shows) the store's membership
// through a running store node, which spreads the new record by gossip (docs/store.md,
// "Membership"). With --wait it returns once every member that answers holds the finished
// record (no node joining or leaving), or fails after --timeout-s.
import { resolve } from "node:path";
import { planetDataDir } from "../cattle/index.ts";
import { loadPlanetSecret } from "../core/index.ts";
import {
  changeStoreMembership,
  type MembershipChange,
  type MembershipView,
  membershipViews,
  storeMembership,
} from "../store/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

export const membershipVerbs = ["join", "leave", "replace", "members"] as const;

const usage =
  "usage: redshirt store join --node ID | leave --node ID | replace --old ID --node NEW | members  [--planet FILE] [--via NODE] [--wait] [--timeout-s N] [--json]";

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `store: ${text}\n${usage}`);
}

export async function runMembership(verb: string, args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs("store", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    node: { type: "string" },
    old: { type: "string" },
    via: { type: "string" },
    wait: { type: "boolean", default: false },
    "timeout-s": { type: "string", default: "600" },
    json: { type: "boolean", default: false },
  });
  if (positionals.length > 0) throw usageError(`${verb} takes no arguments (got ${JSON.stringify(positionals[0])})`);
  const timeoutS = Number(values["timeout-s"]);
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 86_400) {
    throw usageError(`--timeout-s: ${JSON.stringify(values["timeout-s"])} is not a whole number of seconds 1..86400`);
  }
  let change: MembershipChange | undefined;
  if (verb === "join" || verb === "leave") {
    if (!values.node) throw usageError(`${verb}: --node ID is missing (e.g. nyc-store4)`);
    change = { op: verb, node: values.node };
  } else if (verb === "replace") {
    if (!values.old) throw usageError("replace: --old ID is missing (the node that is lost)");
    if (!values.node) throw usageError("replace: --node ID is missing (the new node, e.g. nyc-store4)");
    change = { op: "replace", old: values.old, node: values.node };
  }
  const planet = loadPlanet(resolve(values.planet));
  const target = { planet, secret: loadPlanetSecret(planetDataDir(planet)), via: values.via };
  let view = change ? await changeStoreMembership(target, change) : await storeMembership(target);
  if (change && values.wait) view = await waitDone(target, view, timeoutS * 1_000);
  process.stdout.write(values.json ? `${JSON.stringify(view)}\n` : format(view));
  return 0;
}

async function waitDone(
  target: Parameters<typeof membershipViews>[0],
  started: MembershipView,
  timeoutMs: number,
): Promise<MembershipView> {
  const deadline = Date.now() + timeoutMs;
  for (let last = started; ; ) {
    const views = await membershipViews(target, last.members);
    const done = views.find((v) => v.epoch > started.epoch && !v.changing);
    if (done && views.every((v) => v.epoch >= done.epoch)) return done;
    if (views.length > 0) last = views.reduce((a, b) => (b.epoch > a.epoch ? b : a));
    if (Date.now() > deadline) {
      throw cliErrors.create(
        "RS_ERR_CLI_TIMEOUT",
        `store: the change at epoch ${started.epoch} is not done after ${Math.round(timeoutMs / 1000)} s (${describeMoving(last)})`,
      );
    }
    process.stderr.write(`waiting: ${describeMoving(last)}\n`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

function describeMoving(v: MembershipView): string {
  const moving = v.members.filter((m) => m.state !== "active").map((m) => `${m.id} ${m.state}`);
  return `epoch ${v.epoch}${moving.length ? `, ${moving.join(", ")}` : ""}${v.fillPartitions ? `, ${v.node} fills ${v.fillPartitions} partitions` : ""}`;
}

function format(v: MembershipView): string {
  const lines = [`membership epoch ${v.epoch}${v.changing ? " (change in progress)" : ""}, as ${v.node} sees it`];
  for (const m of v.members) lines.push(`  ${m.id.padEnd(20)} ${m.site.padEnd(10)} ${m.host}:${m.port}  ${m.state}`);
  for (const g of v.gone) lines.push(`  ! node ${g.peer} gone for ${g.silentS}s: replace it`);
  return `${lines.join("\n")}\n`;
}
