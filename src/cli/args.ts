// A small argument parser on node:util parseArgs, turning its errors into ours so a bad
// flag gets a message that names it.
import { type ParseArgsConfig, parseArgs } from "node:util";
import { cliErrors } from "./errors.ts";

export function parseCommandArgs<const T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw cliErrors.create("RS_ERR_CLI_USAGE", `${command}: ${(cause as Error).message}`, { cause });
  }
}
