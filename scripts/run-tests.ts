// Runs every test with node's test runner: unit tests beside the code (src/**/*.test.ts)
// and multi-process integration tests (test/**/*.test.ts). Prints which files run, so a
// person never stares at a silent terminal.
import { spawnSync } from "node:child_process";
import { globSync } from "node:fs";

const only = process.argv.slice(2);
const files = only.length > 0 ? only : [...globSync("src/**/*.test.ts"), ...globSync("test/**/*.test.ts")].sort();
console.log(`running ${files.length} test files`);
const result = spawnSync(
  process.execPath,
  ["--test", "--test-concurrency=2", "--test-reporter=spec", "--test-timeout=600000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
