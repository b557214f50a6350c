// Debian's chromium, headless, through playwright-core: the one way the browser tests (and
// scripts/report-screenshot.ts) start it.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

export const chromiumPath = "/usr/bin/chromium";

/** Launches chromium headless; `extraArgs` are added to its command line. Fails clearly when it is not installed. */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  assert.ok(
    existsSync(chromiumPath),
    `${chromiumPath} is missing: run scripts/setup.sh (it installs Debian's chromium)`,
  );
  return await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      // Chromium refuses to run its sandbox as root (tests run as root in CI's container).
      ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
      // A container's /dev/shm is often 64 MiB, too small for a renderer.
      "--disable-dev-shm-usage",
      ...extraArgs,
    ],
  });
}
