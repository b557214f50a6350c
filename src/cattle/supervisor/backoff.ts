// Crash-loop back-off: the delay before a failed slot starts again. Short at first (a
// one-off crash is replaced at once) and doubling up to a ceiling (a crash loop does not
// burn the machine); a run that stayed ready for a stable minute resets the count.
import { backoffBaseMs, backoffMaxMs } from "./constants.ts";

/** The delay after `failures` consecutive failed runs (0 when none). */
export function backoffDelayMs(failures: number, baseMs = backoffBaseMs, maxMs = backoffMaxMs): number {
  if (failures <= 0) return 0;
  // 2^30 × base is far past any ceiling; capping the exponent keeps the number finite.
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30));
}
