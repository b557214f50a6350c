// The session token's MAC is HMAC-SHA256 computed from prepared pads (fastHmacHex); it must
// stay byte-for-byte the HMAC that core's hmacHex makes, or every token signed before an
// upgrade would be refused after it.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { hmacHex } from "../../core/index.ts";
import { decodeSessionToken, encodeSessionToken, fastHmacHex } from "./session-encoding.ts";

test("session encoding - the prepared-pad HMAC equals node's HMAC for any secret length and message", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.string({ maxLength: 300 }), (secret, message) => {
      const key = Buffer.from(secret);
      assert.equal(fastHmacHex(key, message), hmacHex(key, message));
      // Twice: the pads are kept per secret and copied, never consumed.
      assert.equal(fastHmacHex(key, message), hmacHex(key, message));
    }),
    { numRuns: 300, seed: 13 },
  );
});

test("session encoding - a token's entries are signed as hmacHex signs node id and HLC, so old tokens still check out", () => {
  const secret = randomBytes(32);
  const text = encodeSessionToken({ "a-store1": 123456789, "b-store2": 42 }, secret);
  const signed = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as Record<string, [number, string]>;
  for (const [node, [hlc, mac]] of Object.entries(signed)) {
    assert.equal(mac, hmacHex(secret, "redshirt-session-v1", node, String(hlc)).slice(0, 32));
  }
  assert.deepEqual(decodeSessionToken(text, secret), { "a-store1": 123456789, "b-store2": 42 });
  assert.throws(() => decodeSessionToken(text, randomBytes(32)), { code: "RS_ERR_STORE_BAD_SESSION" });
});
