// The planet secret: 32 random bytes that every process of a planet shares, kept in the
// planet's data directory (never in the repo). It authenticates node-to-node connections,
// signs session tokens and guards the control API. `redshirt up` creates it on first run;
// every other process only reads it, and says how to make one when it is missing.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineErrors } from "./errors.ts";

export const coreErrors = defineErrors("core", {
  RS_ERR_CORE_NO_SECRET: {
    status: 500,
    message:
      "The planet secret is missing or unreadable; run `redshirt up` once (it creates it) or `redshirt secret init --planet F`, and copy the file to every host of the planet",
  },
});

export const planetSecretBytes = 32;
export const planetSecretFileName = "planet.secret";

/** Where a planet's secret lives: `<dataDir>/planet.secret`, mode 0600. */
export function planetSecretFile(dataDir: string): string {
  return join(dataDir, planetSecretFileName);
}

/**
 * Reads the planet secret from `dataDir`. With `create`, makes one first when none exists;
 * two processes creating at once agree, because the file is created exclusively and the
 * loser reads the winner's.
 */
export function loadPlanetSecret(dataDir: string, options: { create?: boolean } = {}): Buffer {
  const file = planetSecretFile(dataDir);
  if (options.create) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(planetSecretBytes).toString("hex")}\n`, { flag: "wx", mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST")
        throw coreErrors.create("RS_ERR_CORE_NO_SECRET", file, { cause: e });
    }
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch (e) {
    throw coreErrors.create("RS_ERR_CORE_NO_SECRET", file, { cause: e });
  }
  if (!/^[0-9a-f]{64}$/.test(text))
    throw coreErrors.create("RS_ERR_CORE_NO_SECRET", `${file} does not hold 64 hex digits`);
  return Buffer.from(text, "hex");
}

/** HMAC-SHA256 of the parts (joined by NUL), as lowercase hex. */
export function hmacHex(secret: Buffer, ...parts: readonly (string | Buffer)[]): string {
  const mac = createHmac("sha256", secret);
  parts.forEach((p, i) => {
    if (i > 0) mac.update("\0");
    mac.update(p);
  });
  return mac.digest("hex");
}

/** Compares two hex MACs in constant time; false for anything malformed. */
export function macEqual(a: string, b: string): boolean {
  if (typeof a !== "string" || typeof b !== "string" || a.length !== b.length || a.length === 0) return false;
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/**
 * The bearer token of every control endpoint (supervisors, WAN links, DNS admin): derived
 * from the planet secret, so whoever can read the secret file may operate the planet and
 * nobody else. Sent as `Authorization: Bearer <token>`.
 */
export function controlBearerToken(secret: Buffer): string {
  return hmacHex(secret, "redshirt-control-v1");
}

/** True when an `Authorization` header value carries the planet's control token. */
export function isControlAuthorized(secret: Buffer, authorization: string | undefined): boolean {
  if (typeof authorization !== "string" || !authorization.startsWith("Bearer ")) return false;
  return macEqual(authorization.slice("Bearer ".length).trim(), controlBearerToken(secret));
}
