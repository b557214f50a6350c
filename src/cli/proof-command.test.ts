// `redshirt proof --recheck DIR` as a user runs it, over an evidence folder holding a
// simulated correct run's history: the verdict again, and the HTML report written again
// into the folder (and to --report FILE.html), both named on stderr and in --json. A
// --report that is not an .html file, or whose folder is missing, is refused before anything
// runs. (The whole proof, planet and all, is test/proof.test.ts.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatHistoryLine } from "../verify/index.ts";
import { simulateCorrectRun } from "../verify/testkit/index.ts";

const dir = mkdtempSync(join(tmpdir(), "rs-proof-cmd-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function proof(...args: string[]) {
  const r = spawnSync(process.execPath, ["src/cli/main.ts", "proof", ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("proof command - --recheck DIR checks the history again and rewrites DIR/report.html (and --report FILE.html)", () => {
  const evidence = join(dir, "evidence");
  mkdirSync(evidence);
  const { records } = simulateCorrectRun({ seed: 5, users: 10, opsPerUser: 110 });
  writeFileSync(join(evidence, "history.jsonl"), records.map(formatHistoryLine).join(""));
  writeFileSync(join(evidence, "report.html"), "stale");
  const extra = join(dir, "copy.html");
  const r = proof("--recheck", evidence, "--report", extra, "--json");
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { verdict: string; reportHtml: string[] };
  assert.equal(out.verdict, "pass");
  assert.deepEqual(out.reportHtml, [join(evidence, "report.html"), extra]);
  assert.ok(r.stderr.includes(`proof: report in ${join(evidence, "report.html")} and ${extra}`), r.stderr);
  const html = readFileSync(join(evidence, "report.html"), "utf8");
  assert.match(html, /<span id="verdict">PASS<\/span>/);
  assert.equal(readFileSync(extra, "utf8"), html);
});

test("proof command - --report must be an .html file in a folder that exists, refused before the run", () => {
  // A planet file that does not exist: were --report not refused first, the run would stop there.
  const planet = ["--planet", join(dir, "no-planet.yaml"), "--duration", "1s"];
  const wrongKind = proof("--report", join(dir, "r.txt"), ...planet);
  assert.equal(wrongKind.code, 2);
  assert.match(wrongKind.stderr, /--report must name an \.html file/);
  const noFolder = proof("--report", join(dir, "missing", "r.html"), ...planet);
  assert.equal(noFolder.code, 2);
  assert.match(noFolder.stderr, /--report: the folder .*missing" does not exist/);
  assert.ok(!existsSync(join(dir, "missing")));
});
