// Streams a history file line by line in bounded memory (one chunk and one line at a time)
// and validates every record; an invalid record stops the read with an error that names
// the line and the field, so a writer's bug is found at its first bad line.
import { open } from "node:fs/promises";
import type { z } from "zod";
import type { HistorySource } from "./checker.ts";
import { historyFormatName, lineBytesMax, readChunkBytes } from "./constants.ts";
import { verifyErrors } from "./errors.ts";
import { type HistoryRecord, recordSchema } from "./history.ts";

export type NumberedRecord = { readonly line: number; readonly record: HistoryRecord };
export type ReadProgress = { readonly bytesRead: number; readonly bytesTotal: number; readonly lines: number };

function invalid(source: string, line: number, text: string) {
  return verifyErrors.create("RS_ERR_VERIFY_HISTORY_INVALID", `${source}:${line}: ${text}`);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length > 0 ? issue.path.join(".") : "record";
  return `${path}: ${issue.message}`;
}

/** Parses one line; `source` and `line` name it in errors. */
export function parseHistoryLine(text: string, source: string, line: number): HistoryRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw invalid(source, line, `not JSON (${(cause as Error).message})`);
  }
  if (line === 1) {
    const head = value as { type?: unknown; format?: unknown; version?: unknown } | null;
    if (head?.type !== "header") throw invalid(source, line, "the first record must be the header (type: header)");
    if (head.format !== historyFormatName) {
      throw invalid(source, line, `format: expected ${JSON.stringify(historyFormatName)}`);
    }
  }
  const parsed = recordSchema.safeParse(value);
  if (!parsed.success) throw invalid(source, line, parsed.error.issues.slice(0, 3).map(describeIssue).join("; "));
  if (line > 1 && parsed.data.type === "header") throw invalid(source, line, "a second header; a history has one");
  return parsed.data;
}

/** Yields every record of a history file with its line number (from 1). */
export async function* readHistoryFile(
  path: string,
  onProgress?: (progress: ReadProgress) => void,
): AsyncGenerator<NumberedRecord> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (cause) {
    throw verifyErrors.create("RS_ERR_VERIFY_HISTORY_READ", `${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const bytesTotal = (await handle.stat()).size;
    const buffer = Buffer.allocUnsafe(readChunkBytes);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let bytesRead = 0;
    let line = 0;
    const take = (tail: Buffer): string => {
      const text = (pending.length === 0 ? tail : Buffer.concat([...pending, tail])).toString("utf8");
      pending = [];
      pendingBytes = 0;
      return text;
    };
    for (;;) {
      const { bytesRead: n } = await handle.read(buffer, 0, buffer.length, null);
      if (n === 0) break;
      bytesRead += n;
      let from = 0;
      for (let nl = buffer.indexOf(10, from); nl !== -1 && nl < n; nl = buffer.indexOf(10, from)) {
        line++;
        if (pendingBytes + nl - from > lineBytesMax) throw invalid(path, line, `longer than ${lineBytesMax} bytes`);
        const text = take(buffer.subarray(from, nl));
        from = nl + 1;
        if (text.trim() === "") throw invalid(path, line, "an empty line; every line holds one record");
        yield { line, record: parseHistoryLine(text, path, line) };
      }
      if (from < n) {
        pendingBytes += n - from;
        if (pendingBytes > lineBytesMax) throw invalid(path, line + 1, `longer than ${lineBytesMax} bytes`);
        pending.push(Buffer.from(buffer.subarray(from, n)));
      }
      onProgress?.({ bytesRead, bytesTotal, lines: line });
    }
    if (pendingBytes > 0) {
      line++;
      const text = take(Buffer.alloc(0));
      if (text.trim() !== "") yield { line, record: parseHistoryLine(text, path, line) };
    }
    if (line === 0) throw invalid(path, 1, "the file is empty; a history starts with its header");
  } finally {
    await handle.close();
  }
}

/** A history file as a checker source (the checker reads it twice, streaming each time). */
export function fileSource(path: string, onBytes?: (bytesRead: number, bytesTotal: number) => void): HistorySource {
  return {
    name: path,
    records: () => readHistoryFile(path, onBytes ? (p) => onBytes(p.bytesRead, p.bytesTotal) : undefined),
  };
}
