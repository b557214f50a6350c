import { defineErrors } from "../core/index.ts";

export const cliErrors = defineErrors("cli", {
  RS_ERR_CLI_USAGE: { status: 400, message: "Bad command line; run `redshirt help` for usage" },
  RS_ERR_CLI_UNKNOWN_COMMAND: { status: 400, message: "Unknown command; run `redshirt help` for the list" },
  RS_ERR_CLI_TIMEOUT: {
    status: 504,
    message:
      "What the command waits for did not happen in time; it may still happen: check again with the command's status form",
  },
  RS_ERR_CLI_ALREADY_UP: {
    status: 409,
    message: "A planet is already running from this data directory; stop it before starting another",
  },
});
