import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { hmacHex, isRedshirtError, loadPlanetSecret, macEqual, planetSecretFile } from "./index.ts";

test("secret - created once with mode 0600, then read back the same; missing without create is a clear error", () => {
  const dir = mkdtempSync(join(tmpdir(), "rs-secret-"));
  try {
    assert.throws(
      () => loadPlanetSecret(dir),
      (e) => isRedshirtError(e, "RS_ERR_CORE_NO_SECRET"),
    );
    const a = loadPlanetSecret(dir, { create: true });
    const b = loadPlanetSecret(dir, { create: true });
    const c = loadPlanetSecret(dir);
    assert.equal(a.length, 32);
    assert.deepEqual(a, b);
    assert.deepEqual(a, c);
    assert.equal(statSync(planetSecretFile(dir)).mode & 0o777, 0o600);
    writeFileSync(planetSecretFile(dir), "not hex\n");
    assert.throws(
      () => loadPlanetSecret(dir),
      (e) => isRedshirtError(e, "RS_ERR_CORE_NO_SECRET"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("secret - a MAC verifies only with the same secret and parts", () => {
  const k1 = Buffer.alloc(32, 1);
  const k2 = Buffer.alloc(32, 2);
  const mac = hmacHex(k1, "hello", "n1");
  assert.ok(macEqual(mac, hmacHex(k1, "hello", "n1")));
  assert.ok(!macEqual(mac, hmacHex(k2, "hello", "n1")));
  assert.ok(!macEqual(mac, hmacHex(k1, "hellon1")));
  assert.ok(!macEqual(mac, ""));
  assert.ok(!macEqual(mac, "zz"));
});

test("secret - the control token authorizes only a Bearer header carrying it", async () => {
  const { controlBearerToken, isControlAuthorized } = await import("./index.ts");
  const k = Buffer.alloc(32, 7);
  const token = controlBearerToken(k);
  assert.ok(isControlAuthorized(k, `Bearer ${token}`));
  assert.ok(!isControlAuthorized(k, token));
  assert.ok(!isControlAuthorized(k, undefined));
  assert.ok(!isControlAuthorized(Buffer.alloc(32, 8), `Bearer ${token}`));
});
