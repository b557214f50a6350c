// `redshirt check` as a user runs it: a real process over a real history file, with the exit
// code telling pass (0), fail (1), not proven (3) and a bad command line or file (2) apart.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatHistoryLine, type HistoryRecord } from "../verify/index.ts";
import { simulateCorrectRun } from "../verify/testkit/index.ts";
import { parseCheckArgs } from "./check-command.ts";

const dir = mkdtempSync(join(tmpdir(), "rs-check-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, records: HistoryRecord[]): string {
  const path = join(dir, name);
  writeFileSync(path, records.map(formatHistoryLine).join(""));
  return path;
}

function check(...args: string[]) {
  const r = spawnSync(process.execPath, ["src/cli/main.ts", "check", ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("check command - a correct run passes with exit 0 and a JSON verdict", () => {
  const { records } = simulateCorrectRun({ seed: 3, users: 10, opsPerUser: 110 });
  const r = check(write("good.jsonl", records), "--json");
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.verdict, "pass");
  assert.equal(report.history.ops, 1_100);
  assert.equal(report.siteLosses.length, 1);
});

test("check command - a lost order fails with exit 1 and the text names it", () => {
  const { records } = simulateCorrectRun({ seed: 3, users: 10, opsPerUser: 110 });
  type Op = Extract<HistoryRecord, { type: "op" }>;
  const isOp = (r: HistoryRecord): r is Op => r.type === "op";
  const c = records.findIndex((r) => isOp(r) && r.kind === "checkout" && r.outcome.result === "ok");
  const { user, saw } = records[c] as Op;
  // The order is missing from every later order history read of its user: lost, not stale.
  const reads: number[] = [];
  for (let i = c + 1; i < records.length; i++) {
    const r = records[i];
    if (!isOp(r) || r.user !== user || r.saw?.orders === undefined) continue;
    records[i] = { ...r, saw: { ...r.saw, orders: r.saw.orders.filter((o) => o.id !== saw?.orderId) } };
    reads.push(i);
  }
  assert.ok(reads.length > 0);
  const r = check(write("lost.jsonl", records));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^verdict: FAIL/);
  assert.match(
    r.stdout,
    new RegExp(`order-lost: user ${user}, orders.read at line ${reads[0] + 1} .*about checkout at line ${c + 1}`),
  );
});

test("check command - a short run is not proven (exit 3); a bad file or flag exits 2 naming it", () => {
  const { records } = simulateCorrectRun({ seed: 3, users: 2, opsPerUser: 10 });
  const short = check(write("short.jsonl", records));
  assert.equal(short.code, 3);
  assert.match(short.stdout, /verdict: NOT PROVEN\n {2}- only 20 ops \(at least 1000 needed\)/);
  assert.equal(check(write("short2.jsonl", records), "--ops-min", "10").code, 0);
  const bad = join(dir, "bad.jsonl");
  writeFileSync(bad, `${formatHistoryLine(records[0])}{"type":"op"}\n`);
  const invalid = check(bad);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /RS_ERR_VERIFY_HISTORY_INVALID: .*bad\.jsonl:2: /);
});

test("check command - the command line is checked, each error naming the argument", () => {
  assert.throws(() => parseCheckArgs([]), /HISTORY\.jsonl is missing/);
  assert.throws(() => parseCheckArgs(["a", "b"]), /takes one file/);
  assert.throws(() => parseCheckArgs(["a", "--ops-min", "x"]), /--ops-min must be an integer/);
  assert.throws(() => parseCheckArgs(["a", "--colour"]), /check: Unknown option '--colour'/);
  assert.deepEqual(parseCheckArgs(["h.jsonl", "--json", "--recovery-ms-max", "1000"]), {
    file: "h.jsonl",
    json: true,
    options: { recoveryMsMax: 1_000 },
  });
});
