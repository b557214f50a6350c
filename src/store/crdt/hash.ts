// Hash functions whose output is part of the data's layout (which partition a key lives in,
// which anti-entropy bucket it lands in, digests compared between nodes), so they must never
// change: MurmurHash3 x86_32 (public domain, Austin Appleby), implemented here and pinned by
// fixture tests against the reference vectors.

const utf8 = new TextEncoder();

export function utf8Bytes(text: string): Uint8Array {
  return utf8.encode(text);
}

/** The 32-bit finalizer of MurmurHash3: a bijection that avalanches every input bit. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const c1 = 0xcc9e2d51;
const c2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, c1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, c2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3 x86_32 of bytes (or of a string's UTF-8 bytes), as an unsigned 32-bit integer. */
export function murmur3(data: Uint8Array | string, seed = 0): number {
  const bytes = typeof data === "string" ? utf8Bytes(data) : data;
  const len = bytes.length;
  const blocksEnd = len & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocksEnd; i += 4) {
    h = mixH(h, bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
  }
  const tailLen = len & 3;
  if (tailLen > 0) {
    let k = 0;
    if (tailLen === 3) k ^= bytes[blocksEnd + 2] << 16;
    if (tailLen >= 2) k ^= bytes[blocksEnd + 1] << 8;
    k ^= bytes[blocksEnd];
    h ^= mixK(k);
  }
  return fmix32(h ^ len);
}

/** MurmurHash3 x86_32 over 32-bit words (as if each were 4 little-endian bytes), independent of the platform's byte order. */
export function murmur3Words(words: ArrayLike<number>, seed = 0): number {
  let h = seed | 0;
  for (let i = 0; i < words.length; i++) h = mixH(h, words[i] | 0);
  return fmix32(h ^ (words.length * 4));
}
