// The node-to-node wire format: a stream of frames, each a 4-byte big-endian body length
// followed by a msgpack body. A body that is an array is an engine message (WireMessage);
// a body that is a map is a control frame of the transport itself:
//   the handshake         first frames of every connection (handshake.ts, v = wireVersion)
//   ping {ping: n}        sent by the dialing side; the other side answers pong {pong: n}
// Bodies are bounded (frameBytesMax): a peer announcing more is cut off before anything
// is allocated for it.
import { Packr, RESERVE_START_SPACE } from "msgpackr";
import type { RedshirtError } from "../../core/index.ts";
import { frameBytesMax as frameBytesMaxDefault, frameHeaderBytes } from "../constants.ts";
import { storageErrors } from "../storage-errors.ts";

// No records (so every body is plain msgpack any implementation can read), and 64-bit
// integers as numbers (HLCs are safe integers above 2^32). Decoded byte strings are views of
// the received bytes: copy one that is kept for long.
const packr = new Packr({ useRecords: false, int64AsType: "number", mapsAsObjects: true });

/** Encodes a value as one frame (length prefix included). Throws RS_ERR_STORE_WIRE when the body is over the bound. */
export function encodeFrame(value: unknown, frameBytesMax = frameBytesMaxDefault): Buffer {
  // The packer leaves room for the length prefix in front of the body: no second buffer.
  const frame = packr.pack(value, RESERVE_START_SPACE | frameHeaderBytes);
  const bodyBytes = frame.length - frameHeaderBytes;
  if (bodyBytes > frameBytesMax) {
    throw storageErrors.create(
      "RS_ERR_STORE_WIRE",
      `a ${bodyBytes}-byte frame is over the ${frameBytesMax}-byte bound`,
    );
  }
  frame.writeUInt32BE(bodyBytes, 0);
  return frame;
}

/** Decodes one body (without its prefix); for tests and fixtures. */
export function decodeBody(body: Uint8Array): unknown {
  return packr.unpack(body);
}

/**
 * Turns a byte stream into frames, whatever the chunking: a frame split over many chunks,
 * many frames in one chunk. Never throws on bad input: push() returns an error and the
 * decoder refuses everything after it (the connection must be closed). It never holds more
 * than frameBytesMax + frameHeaderBytes bytes.
 */
export class FrameDecoder {
  #frameBytesMax: number;
  readonly #head = Buffer.alloc(frameHeaderBytes);
  #headFill = 0;
  #body: Buffer | undefined;
  #bodyFill = 0;
  #error: RedshirtError | undefined;

  constructor(frameBytesMax = frameBytesMaxDefault) {
    this.#frameBytesMax = frameBytesMax;
  }

  /** Changes the bound for the frames after the current one (e.g. tiny until the hello is read). */
  setFrameBytesMax(frameBytesMax: number): void {
    this.#frameBytesMax = frameBytesMax;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#headFill + (this.#body?.length ?? 0);
  }

  /** Feeds a chunk; calls onFrame with each complete frame's body. Returns an error once the stream is corrupt. */
  push(chunk: Uint8Array, onFrame: (body: unknown) => void): RedshirtError | undefined {
    if (this.#error) return this.#error;
    let off = 0;
    while (off < chunk.length) {
      if (this.#body === undefined) {
        let length: number;
        if (this.#headFill === 0 && chunk.length - off >= frameHeaderBytes) {
          length = ((chunk[off] << 24) | (chunk[off + 1] << 16) | (chunk[off + 2] << 8) | chunk[off + 3]) >>> 0;
          off += frameHeaderBytes;
        } else {
          const n = Math.min(frameHeaderBytes - this.#headFill, chunk.length - off);
          this.#head.set(chunk.subarray(off, off + n), this.#headFill);
          this.#headFill += n;
          off += n;
          if (this.#headFill < frameHeaderBytes) break;
          this.#headFill = 0;
          length = this.#head.readUInt32BE(0);
        }
        if (length === 0 || length > this.#frameBytesMax) {
          return this.#fail(`a frame announces ${length} bytes; bodies are 1..${this.#frameBytesMax} bytes`);
        }
        if (chunk.length - off >= length) {
          // The whole body is in this chunk: decode it in place.
          const failed = this.#emit(chunk.subarray(off, off + length), onFrame);
          if (failed) return failed;
          off += length;
          continue;
        }
        this.#body = Buffer.allocUnsafe(length);
        this.#bodyFill = 0;
      }
      const n = Math.min(this.#body.length - this.#bodyFill, chunk.length - off);
      this.#body.set(chunk.subarray(off, off + n), this.#bodyFill);
      this.#bodyFill += n;
      off += n;
      if (this.#bodyFill === this.#body.length) {
        const body = this.#body;
        this.#body = undefined;
        const failed = this.#emit(body, onFrame);
        if (failed) return failed;
      }
    }
    return undefined;
  }

  #emit(body: Uint8Array, onFrame: (body: unknown) => void): RedshirtError | undefined {
    let value: unknown;
    try {
      value = packr.unpack(body);
    } catch (err) {
      return this.#fail(`a frame body is not valid msgpack (${(err as Error).message})`, err);
    }
    onFrame(value);
    return undefined;
  }

  #fail(text: string, cause?: unknown): RedshirtError {
    this.#body = undefined;
    this.#headFill = 0;
    this.#error = storageErrors.create("RS_ERR_STORE_WIRE", text, { cause });
    return this.#error;
  }
}
