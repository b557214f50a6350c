// The `redshirt` command line: dispatches to a subcommand and turns errors into a clear
// message and a non-zero exit code, never a stack trace for an operating error.
import { isRedshirtError } from "../core/index.ts";
import { commands } from "./commands.ts";
import { cliErrors } from "./errors.ts";

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: redshirt <command> [options]\n\ncommands:\n${lines.join("\n")}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  try {
    const command = commands[name];
    if (!command) throw cliErrors.create("RS_ERR_CLI_UNKNOWN_COMMAND", name);
    // `redshirt proof --help`: what the command does and takes, not "unknown option".
    const options = rest.includes("--") ? rest.slice(0, rest.indexOf("--")) : rest;
    if (options.includes("--help") || options.includes("-h")) {
      process.stdout.write(`redshirt ${name}: ${command.summary}\n`);
      return 0;
    }
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    if (isRedshirtError(err)) {
      process.stderr.write(`redshirt: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`redshirt: internal error: ${err?.stack ?? err}\n`);
      process.exitCode = 70;
    },
  );
}
