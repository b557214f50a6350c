// `redshirt kv`: argument errors name the bad argument, and the real command (a child
// process) talks to store HTTP servers, fronts of one real one-node engine
// (test/support/engine-api.ts), which proves the CLI and client wiring, not replication.
// Addresses: 127.143.0.0/16 belongs to this file.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { type RealEngine, startRealEngine } from "../../test/support/engine-api.ts";
import { createLogger, isRedshirtError } from "../core/index.ts";
import { createStoreHttpServer, type StoreHttpServer } from "../store/index.ts";
import { loadPlanet } from "../topology/index.ts";
import { parseKvArgs, parsePutValue } from "./kv-command.ts";

const run = promisify(execFile);
const bin = new URL("../../bin/redshirt", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "rs-kv-cli-"));
const planetFile = join(dir, "planet.yaml");
writeFileSync(
  planetFile,
  "name: kvcli\nzone: kvcli.test.\nsites:\n  - { name: k, city: K, lat: 0, lon: 0, subnet: 127.143.0.0/16 }\n  - { name: j, city: J, lat: 1, lon: 1, subnet: 127.144.0.0/16 }\nports: { store: 7400 }\nwan: { mode: direct }\n",
);
const servers: StoreHttpServer[] = [];
let engine: RealEngine | undefined;

before(async () => {
  const planet = loadPlanet(planetFile);
  engine = await startRealEngine({ subnet: "127.143.0.0/16", site: "k" });
  const logger = createLogger({}, { level: "error", write: () => {} });
  const secret = randomBytes(32);
  for (const n of planet.storeNodes.filter((x) => x.site === "k")) {
    const server = createStoreHttpServer(engine.front(n.id), {
      host: n.host,
      port: n.port,
      logger,
      nodeId: n.id,
      planet,
      secret,
    });
    servers.push(server);
    await server.start();
  }
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function usageMessage(args: string[]): string {
  try {
    parseKvArgs(args);
  } catch (err) {
    assert.ok(isRedshirtError(err, "RS_ERR_CLI_USAGE"), String(err));
    return err.message;
  }
  assert.fail(`expected ${args.join(" ")} to be refused`);
}

test("cli kv - argument errors name the bad argument", () => {
  assert.match(usageMessage([]), /first argument must be one of get, put/);
  assert.match(usageMessage(["fetch", "k"]), /\(got "fetch"\)/);
  assert.match(usageMessage(["get"]), /get: KEY is missing/);
  assert.match(usageMessage(["get", "k", "extra"]), /get: takes only KEY \(got extra "extra"\)/);
  assert.match(usageMessage(["put", "k"]), /put: VALUE is missing/);
  assert.match(usageMessage(["put", "k", "a", "b"]), /put: takes one VALUE; quote/);
  assert.match(usageMessage(["incr", "k", "1.5"]), /incr: BY must be one integer/);
  assert.match(usageMessage(["add", "k"]), /add: MEMBER… is missing/);
  assert.match(usageMessage(["get", "k", "--consistency", "most"]), /--consistency must be one of .*\(got "most"\)/);
  assert.match(usageMessage(["put", "k", "v", "--ttl", "0"]), /--ttl must be an integer in 1\.\./);
  assert.match(usageMessage(["get", "k", "--ttl", "5"]), /--ttl: get does not take it/);
  assert.match(usageMessage(["get", "k", "--timeout-ms", "x"]), /--timeout-ms must be an integer/);
  assert.match(usageMessage(["get", "k", "--colour"]), /Unknown option '--colour'/);
  assert.deepEqual(parsePutValue("42"), 42);
  assert.deepEqual(parsePutValue('{"a":[1]}'), { a: [1] });
  assert.deepEqual(parsePutValue("hello world"), "hello world");
});

test("cli kv - put, incr, add, remove, get and del through the real command", async () => {
  const kv = (...args: string[]) => run(bin, ["kv", ...args, "--planet", planetFile], { timeout: 20_000 });
  assert.equal((await kv("put", "greeting", "hello world")).stdout, "hello world\n");
  assert.equal((await kv("get", "greeting")).stdout, "hello world\n");
  assert.equal((await kv("put", "doc", '{"a":[1,2]}', "--ttl", "60")).stdout, '{\n  "a": [\n    1,\n    2\n  ]\n}\n');
  assert.equal((await kv("incr", "hits")).stdout, "1\n");
  assert.equal((await kv("incr", "hits", "41", "--consistency", "local-one")).stdout, "42\n");
  assert.equal((await kv("add", "tags", "red", "blue")).stdout, "blue\nred\n");
  assert.equal((await kv("remove", "tags", "red")).stdout, "blue\n");
  const json = JSON.parse((await kv("get", "tags", "--json")).stdout);
  assert.deepEqual(json, { key: "tags", exists: true, type: "set", value: ["blue"] });
  assert.equal((await kv("del", "tags")).stdout, "deleted tags\n");
  const missing = await kv("get", "tags").then(
    () => assert.fail("a missing key exits non-zero"),
    (err) => err,
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /RS_ERR_STORE_NOT_FOUND/);
  const wrongType = await kv("incr", "greeting").then(
    () => assert.fail("a wrong type exits non-zero"),
    (err) => err,
  );
  assert.equal(wrongType.code, 2);
  assert.match(wrongType.stderr, /^redshirt: RS_ERR_STORE_WRONG_TYPE: /);
  // Site j has no store node up: the client fails over to site k, which answers.
  const viaOtherSite = await kv("get", "x", "--site", "j", "--timeout-ms", "2000").then(
    () => assert.fail("a missing key exits non-zero"),
    (err) => err,
  );
  assert.equal(viaOtherSite.code, 1);
  assert.match(viaOtherSite.stderr, /RS_ERR_STORE_NOT_FOUND/);
  const badSite = await kv("get", "x", "--site", "zz").then(
    () => assert.fail("an unknown site exits non-zero"),
    (err) => err,
  );
  assert.match(badSite.stderr, /RS_ERR_CLI_USAGE: .*--site "zz" is not a site of planet kvcli \(sites: k, j\)/);
});
