// The command line's own surface: `--help` on a command says what it does instead of
// refusing the option; an unknown command is a CLI error naming it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { main } from "./main.ts";

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((c: string) => out.push(String(c)) > 0) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => err.push(String(c)) > 0) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out: out.join(""), err: err.join("") };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

test("cli - `redshirt proof --help` (or -h) prints what the command does and takes, exit 0", async () => {
  for (const flag of ["--help", "-h"]) {
    const r = await run(["proof", flag]);
    assert.equal(r.code, 0);
    assert.match(r.out, /^redshirt proof: .*--duration/);
    assert.equal(r.err, "");
  }
});

test("cli - an unknown command is refused naming it, exit 2", async () => {
  const r = await run(["prooof"]);
  assert.equal(r.code, 2);
  assert.match(r.err, /RS_ERR_CLI_UNKNOWN_COMMAND.*prooof/);
});
