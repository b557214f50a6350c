// The site weights on disk, so a DNS server restarted while every peer is down (or all of
// them restarted: a planet-wide power cut) still steers users away from an evacuated site.
// One small JSON file in the server's own data directory, written atomically on every
// change: a temp file, fsync, rename over the old one, fsync of the directory — a crash
// leaves the old file or the new one, never half of either. Read once at start; what it
// holds is merged like a peer's view (newest register per site wins), so a newer weight
// set elsewhere while this server was down still wins when it reads its peers.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../core/index.ts";
import { type WeightConfig, weightConfigSchema } from "./weights.ts";

export const weightsFileName = "weights.json";

/** The DNS server's data directory under the planet's: `<dataDir>/dns/<server id>`. */
export function dnsDataDir(planetDataDir: string, serverId: string): string {
  return join(planetDataDir, "dns", serverId);
}

/** Writes the weights atomically (temp file, fsync, rename, fsync of the directory). Throws on failure. */
export function writeWeightsFile(dir: string, config: WeightConfig): void {
  writeFileAtomic(join(dir, weightsFileName), `${JSON.stringify({ version: 1, weights: config })}\n`);
}

/**
 * The weights last written, undefined when there is no file yet. Throws when the file is
 * there but unreadable or invalid (the caller counts and logs it, and starts without).
 */
export function readWeightsFile(dir: string): WeightConfig | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, weightsFileName), "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw err;
  }
  const parsed = weightConfigSchema.safeParse((JSON.parse(text) as { weights?: unknown }).weights);
  if (!parsed.success) throw new Error(`${weightsFileName}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  return parsed.data;
}
