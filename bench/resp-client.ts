// A minimal RESP (Redis protocol) connection with one command in flight: enough to drive
// redis-server in the benchmark the way the store's client is driven (one request in
// flight per connection), so the ratio compares servers, not client tricks.
import { connect, type Socket } from "node:net";

export class RespConnection {
  readonly #socket: Socket;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: ((reply: string | null) => void) | undefined;
  #failed: ((err: Error) => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on("data", (chunk) => this.#onData(chunk));
    socket.on("error", (err) => this.#failed?.(err));
  }

  static open(host: string, port: number): Promise<RespConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port }, () => resolve(new RespConnection(socket)));
      socket.once("error", reject);
    });
  }

  command(...args: string[]): Promise<string | null> {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failed = reject;
      this.#socket.write(out);
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const reply = parseReply(this.#buffer);
    if (!reply) return;
    this.#buffer = this.#buffer.subarray(reply.length);
    const done = this.#waiting;
    this.#waiting = undefined;
    if (reply.error) this.#failed?.(new Error(reply.error));
    else done?.(reply.value);
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** Parses one simple-string, error, integer or bulk-string reply. */
function parseReply(b: Buffer): { value: string | null; error?: string; length: number } | undefined {
  const eol = b.indexOf("\r\n");
  if (eol < 0) return undefined;
  const head = b.toString("latin1", 1, eol);
  switch (b[0]) {
    case 0x2b: // +
    case 0x3a: // :
      return { value: head, length: eol + 2 };
    case 0x2d: // -
      return { value: null, error: head, length: eol + 2 };
    case 0x24: {
      // $
      const n = Number(head);
      if (n < 0) return { value: null, length: eol + 2 };
      if (b.length < eol + 2 + n + 2) return undefined;
      return { value: b.toString("utf8", eol + 2, eol + 2 + n), length: eol + 2 + n + 2 };
    }
    default:
      throw new Error(`unexpected RESP reply type ${String.fromCharCode(b[0])}`);
  }
}
