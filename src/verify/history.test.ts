// The history format and its streaming reader: what a writer writes the reader reads back,
// and every bad line is refused with its file:line and the field that is wrong.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  checkHistory,
  fileSource,
  formatHistoryLine,
  type HistoryRecord,
  HistoryWriter,
  readHistoryFile,
  verifyConstants,
} from "./index.ts";
import { HistoryBuilder } from "./testkit/index.ts";

const dir = mkdtempSync(join(tmpdir(), "rs-verify-"));
after(() => rmSync(dir, { recursive: true, force: true }));

async function readAll(path: string): Promise<{ line: number; record: HistoryRecord }[]> {
  const out = [];
  for await (const r of readHistoryFile(path)) out.push(r);
  return out;
}

function sample(): HistoryRecord[] {
  const h = new HistoryBuilder();
  h.fault({ id: "f1", kind: "partition", target: { site: "north", peer: "south" }, startMs: 0, ttlMs: 500 });
  h.op({ kind: "login", user: "alice", session: "s1", saw: { sessionUser: "alice" } });
  h.op({ kind: "cart.add", user: "alice", session: "s1", item: "apple", quantity: 2 });
  return h.build();
}

test("history - records written with formatHistoryLine are read back in order with their line numbers", async () => {
  const records = sample();
  const path = join(dir, "good.jsonl");
  writeFileSync(path, records.map(formatHistoryLine).join(""));
  const read = await readAll(path);
  assert.deepEqual(
    read.map((r) => r.line),
    [1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    read.map((r) => r.record),
    records,
  );
});

test("history - a file without a final newline and lines longer than a read chunk are read whole", async () => {
  const records = sample();
  const long: HistoryRecord = {
    type: "op",
    kind: "page",
    user: "alice",
    region: "nr",
    startMs: 100,
    endMs: 101,
    attempts: 1,
    outcome: { result: "ok" },
    path: `/${"x".repeat(2_000)}`,
    saw: { orders: Array.from({ length: 5_000 }, (_, i) => ({ id: `order-${i}` })) },
  };
  const lines = [...records.slice(0, -1), long].map(formatHistoryLine).join("");
  assert.ok(lines.length > verifyConstants.readChunkBytes);
  const path = join(dir, "long.jsonl");
  writeFileSync(path, lines.slice(0, -1));
  const read = await readAll(path);
  assert.equal(read.length, 5);
  assert.deepEqual(read[4].record, long);
});

test("history - a bad line is refused naming the file, the line and the field", async () => {
  const good = sample().map((r) => JSON.stringify(r));
  const cases: [string, string[], RegExp][] = [
    ["not json", [good[0], "{oops"], /bad1\.jsonl:2: not JSON/],
    ["no header first", [good[2]], /bad2\.jsonl:1: the first record must be the header/],
    [
      "mutation without key",
      [good[0], good[1], good[2].replace(/"idempotencyKey":"k1",/, "")],
      /:3: idempotencyKey: login is a mutation/,
    ],
    ["end before start", [good[0], good[3].replace('"endMs":21', '"endMs":1')], /:2: endMs: endMs is before startMs/],
    ["unknown field", [good[0], good[3].replace('"attempts":1', '"attempts":1,"colour":"red"')], /:2: .*colour/],
    ["wrong outcome", [good[0], good[3].replace('{"result":"ok"}', '{"result":"maybe"}')], /:2: outcome/],
    ["empty line", [good[0], "", good[1]], /:2: an empty line/],
    ["two headers", [good[0], good[0]], /:2: a second header/],
  ];
  let i = 0;
  for (const [name, lines, message] of cases) {
    const path = join(dir, `bad${++i}.jsonl`);
    writeFileSync(path, `${lines.join("\n")}\n`);
    await assert.rejects(readAll(path), { code: "RS_ERR_VERIFY_HISTORY_INVALID", message }, name);
  }
});

test("history - a missing file or an empty one is a clear error", async () => {
  await assert.rejects(readAll(join(dir, "missing.jsonl")), {
    code: "RS_ERR_VERIFY_HISTORY_READ",
    message: /missing\.jsonl/,
  });
  const path = join(dir, "empty.jsonl");
  writeFileSync(path, "");
  await assert.rejects(readAll(path), { code: "RS_ERR_VERIFY_HISTORY_INVALID", message: /empty/ });
});

test("history - a writer cannot format a record the reader would refuse", () => {
  assert.throws(() =>
    formatHistoryLine({
      type: "op",
      kind: "cart.add",
      user: "alice",
      region: "nr",
      startMs: 0,
      endMs: 1,
      attempts: 1,
      outcome: { result: "ok" },
    } as HistoryRecord),
  );
});

test("history - the version 1 fixture still reads and checks as it did (a format change keeps old files readable)", async () => {
  const path = "src/verify/fixtures/history-v1.jsonl";
  const read = await readAll(path);
  assert.equal(read.length, 15);
  const report = await checkHistory(fileSource(path), { opsMin: 10 });
  assert.equal(report.verdict, "fail");
  assert.deepEqual(
    report.anomalies.map((a) => [a.kind, a.user, a.op.line]),
    [
      ["user-visible-error", "vu-2", 10],
      ["user-visible-error", "vu-2", 12],
    ],
  );
  assert.deepEqual(
    report.siteLosses.map((l) => [l.faultId, l.affectedUsers, l.maxWaitUser, l.maxWaitMs, l.endMs]),
    [["f1", 1, "vu-1", 310, 1500]],
  );
  assert.deepEqual(report.nonNearest, { count: 0, eligible: 6, share: 0, excludedDuringFaults: 3 });
  assert.equal(report.stats.retriedOps, 3);
  assert.deepEqual(report.reasons, ["2 anomalies: user-visible-error 2"]);
});

test("history - HistoryWriter writes a file the checker reads, closed by an end record counting its ops", async () => {
  const path = join(dir, "written.jsonl");
  const [header, ...rest] = sample();
  const writer = await HistoryWriter.create(path, header as Extract<HistoryRecord, { type: "header" }>);
  for (const r of rest) if (r.type !== "end") await writer.write(r);
  assert.equal(writer.opsWritten, 2);
  await writer.close("complete", 99);
  const read = await readAll(path);
  assert.deepEqual(read.at(-1)?.record, { type: "end", endMs: 99, reason: "complete", ops: 2 });
  const report = await checkHistory(fileSource(path), { opsMin: 1 });
  assert.equal(report.verdict, "pass", report.reasons.join("; "));
  await assert.rejects(writer.write(rest[1] as Extract<HistoryRecord, { type: "op" }>), /closed/);
});

test("history - a history that cannot be created is a clear error naming the path", async () => {
  const header = sample()[0] as Extract<HistoryRecord, { type: "header" }>;
  await assert.rejects(HistoryWriter.create(join(dir, "no-such-dir", "h.jsonl"), header), {
    code: "RS_ERR_VERIFY_HISTORY_WRITE",
    message: /no-such-dir/,
  });
});
