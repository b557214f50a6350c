// Writes a history file: what the load generator (and chaos, when it runs in the same
// process and on the same clock) use, so every line they write is one the reader accepts.
// Records go through a write stream with its backpressure honoured (the caller awaits each
// write, so memory stays bounded however fast ops finish); close() appends the end record
// with the count of op records written, which the checker compares with the file.

import { once } from "node:events";
import { createWriteStream, type WriteStream } from "node:fs";
import { verifyErrors } from "./errors.ts";
import { type EndRecord, formatHistoryLine, type HistoryHeader, type HistoryRecord } from "./history.ts";

export class HistoryWriter {
  readonly #stream: WriteStream;
  readonly #path: string;
  #ops = 0;
  #closed = false;
  #failure: Error | undefined;

  private constructor(path: string, stream: WriteStream) {
    this.#path = path;
    this.#stream = stream;
    // Kept and thrown from the next write or close, so the writer's caller meets it.
    stream.on("error", (cause) => {
      this.#failure = verifyErrors.create("RS_ERR_VERIFY_HISTORY_WRITE", `${path}: ${cause.message}`, { cause });
    });
  }

  /** Creates (or truncates) the file and writes the header. */
  static async create(path: string, header: HistoryHeader): Promise<HistoryWriter> {
    const stream = createWriteStream(path, { flags: "w" });
    try {
      await once(stream, "open");
    } catch (cause) {
      throw verifyErrors.create("RS_ERR_VERIFY_HISTORY_WRITE", `${path}: ${(cause as Error).message}`, {
        cause,
      });
    }
    const writer = new HistoryWriter(path, stream);
    await writer.write(header);
    return writer;
  }

  get opsWritten(): number {
    return this.#ops;
  }

  /** Validates and appends one record; resolves once the stream can take more. */
  async write(record: Exclude<HistoryRecord, EndRecord>): Promise<void> {
    if (this.#closed) throw new Error(`history ${this.#path} is closed`);
    if (this.#failure) throw this.#failure;
    const line = formatHistoryLine(record);
    if (record.type === "op") this.#ops++;
    if (!this.#stream.write(line)) await once(this.#stream, "drain");
  }

  /** Appends the end record and closes the file. */
  async close(reason: EndRecord["reason"], endMs: number): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream.end(formatHistoryLine({ type: "end", endMs, reason, ops: this.#ops }));
    await once(this.#stream, "finish");
    if (this.#failure) throw this.#failure;
  }
}
