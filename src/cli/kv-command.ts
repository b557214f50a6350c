// `redshirt kv get|put|incr|add|remove|del KEY [VALUE…]`: reads and writes the store from a
// shell through the same client apps use (routing to the key's replicas, failover).
import { createStoreClient, type ReadResult, type StoreClient, storeConstants } from "../store/index.ts";
import { type Consistency, consistencyLevels, loadPlanet, type Planet } from "../topology/index.ts";
import { parseCommandArgs } from "./args.ts";
import { cliErrors } from "./errors.ts";

const verbs = ["get", "put", "incr", "add", "remove", "del"] as const;
type Verb = (typeof verbs)[number];

export type KvCommand = {
  readonly verb: Verb;
  readonly key: string;
  readonly words: readonly string[];
  readonly planetFile: string;
  readonly site: string | undefined;
  readonly consistency: Consistency | undefined;
  readonly ttlS: number | undefined;
  readonly timeoutMs: number | undefined;
  readonly json: boolean;
};

const usage =
  "usage: redshirt kv get|put|incr|add|remove|del KEY [VALUE…] [--planet FILE] [--site NAME] [--consistency L] [--ttl S] [--timeout-ms N] [--json]";

function usageError(text: string) {
  return cliErrors.create("RS_ERR_CLI_USAGE", `kv: ${text}\n${usage}`);
}

/** Parses and checks the command line; every error names the argument that is wrong. */
export function parseKvArgs(args: string[]): KvCommand {
  const { values, positionals } = parseCommandArgs("kv", args, {
    planet: { type: "string", default: "examples/planet.yaml" },
    site: { type: "string" },
    consistency: { type: "string" },
    ttl: { type: "string" },
    "timeout-ms": { type: "string" },
    json: { type: "boolean", default: false },
  });
  const [verbText, key, ...words] = positionals;
  if (!verbText || !(verbs as readonly string[]).includes(verbText)) {
    throw usageError(
      `the first argument must be one of ${verbs.join(", ")}${verbText ? ` (got ${JSON.stringify(verbText)})` : ""}`,
    );
  }
  const verb = verbText as Verb;
  if (key === undefined || key === "") throw usageError(`${verb}: KEY is missing`);
  if ((verb === "get" || verb === "del") && words.length > 0) {
    throw usageError(`${verb}: takes only KEY (got extra ${JSON.stringify(words[0])})`);
  }
  if (verb === "put" && words.length !== 1) {
    throw usageError(words.length === 0 ? "put: VALUE is missing" : "put: takes one VALUE; quote a value with spaces");
  }
  if (verb === "incr" && (words.length > 1 || (words.length === 1 && !/^-?\d{1,16}$/.test(words[0])))) {
    throw usageError("incr: BY must be one integer (default 1)");
  }
  if ((verb === "add" || verb === "remove") && words.length === 0) throw usageError(`${verb}: MEMBER… is missing`);
  const consistency = values.consistency;
  if (consistency !== undefined && !(consistencyLevels as readonly string[]).includes(consistency)) {
    throw usageError(
      `--consistency must be one of ${consistencyLevels.join(", ")} (got ${JSON.stringify(consistency)})`,
    );
  }
  const ttlS = values.ttl === undefined ? undefined : integerOption("--ttl", values.ttl, 1, storeConstants.ttlSMax);
  if (ttlS !== undefined && (verb === "get" || verb === "del")) throw usageError(`--ttl: ${verb} does not take it`);
  const timeoutMsText = values["timeout-ms"];
  const timeoutMs =
    timeoutMsText === undefined
      ? undefined
      : integerOption("--timeout-ms", timeoutMsText, 1, storeConstants.requestTimeoutMsMax);
  return {
    verb,
    key,
    words,
    planetFile: values.planet,
    site: values.site,
    consistency: consistency as Consistency | undefined,
    ttlS,
    timeoutMs,
    json: values.json,
  };
}

function integerOption(name: string, text: string, min: number, max: number): number {
  const n = /^\d{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max))
    throw usageError(`${name} must be an integer in ${min}..${max} (got ${JSON.stringify(text)})`);
  return n;
}

function siteOf(planet: Planet, name: string | undefined): string {
  if (name === undefined) return planet.sites[0].name;
  if (!planet.sites.some((s) => s.name === name)) {
    throw usageError(
      `--site ${JSON.stringify(name)} is not a site of planet ${planet.name} (sites: ${planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  return name;
}

/** `put` stores JSON when the word is JSON, else the word as a string: `put n 42` is a number, `put s hello` a string. */
export function parsePutValue(word: string): unknown {
  try {
    return JSON.parse(word);
  } catch {
    return word;
  }
}

export async function run(args: string[]): Promise<number> {
  const cmd = parseKvArgs(args);
  const planet = loadPlanet(cmd.planetFile);
  const client = createStoreClient({
    planet,
    site: siteOf(planet, cmd.site),
    consistency: cmd.consistency,
    timeoutMs: cmd.timeoutMs,
  });
  try {
    return await execute(client, cmd);
  } finally {
    await client.close();
  }
}

async function execute(client: StoreClient, cmd: KvCommand): Promise<number> {
  const opts = { ttlS: cmd.ttlS };
  if (cmd.verb === "get") {
    const result = await client.get(cmd.key);
    if (!result.exists) {
      process.stderr.write(`redshirt: RS_ERR_STORE_NOT_FOUND: no key ${JSON.stringify(cmd.key)}\n`);
      if (cmd.json) print(cmd, { key: cmd.key, exists: false });
      return 1;
    }
    print(cmd, { key: cmd.key, ...result }, result);
    return 0;
  }
  if (cmd.verb === "del") {
    const outcome = await client.mutate(cmd.key, { kind: "del" }, opts);
    print(cmd, { key: cmd.key, ...outcome }, undefined, `deleted ${cmd.key}`);
    return 0;
  }
  const mutation =
    cmd.verb === "put"
      ? ({ kind: "set", value: parsePutValue(cmd.words[0]) } as const)
      : cmd.verb === "incr"
        ? ({ kind: "incr", by: cmd.words.length ? Number(cmd.words[0]) : 1 } as const)
        : ({ kind: cmd.verb === "add" ? "sadd" : "srem", members: cmd.words } as const);
  const outcome = await client.mutate(cmd.key, mutation, opts);
  print(cmd, { key: cmd.key, ...outcome }, outcome.value);
  return 0;
}

/** `--json` prints one JSON line; otherwise the value alone, readably. */
function print(cmd: KvCommand, full: Record<string, unknown>, value?: ReadResult, text?: string): void {
  if (cmd.json) {
    process.stdout.write(`${JSON.stringify(full)}\n`);
    return;
  }
  if (text !== undefined) {
    process.stdout.write(`${text}\n`);
    return;
  }
  if (!value?.exists) {
    process.stdout.write("(empty)\n");
    return;
  }
  const v = value.value;
  if (value.type === "set" && Array.isArray(v))
    process.stdout.write(v.length ? v.map((m) => `${m}\n`).join("") : "(empty)\n");
  else if (typeof v === "string") process.stdout.write(`${v}\n`);
  else process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}
