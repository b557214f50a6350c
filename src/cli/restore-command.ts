// `redshirt restore SITE [--planet FILE] [--no-wait]`: brings an evacuated site back — its app
// tier to its desired count (or the sun's), every instance ready, and only then its DNS
// weight, until the DNS servers list it again. See evacuate-command.ts.
import { runEvacuation } from "./evacuate-command.ts";

export function run(args: string[]): Promise<number> {
  return runEvacuation("restore", args);
}
