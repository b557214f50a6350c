// Error codes of the history reader and checker.
import { defineErrors } from "../core/index.ts";

export const verifyErrors = defineErrors("verify", {
  RS_ERR_VERIFY_HISTORY_READ: {
    status: 400,
    message: "The history file cannot be read; check its path and permissions",
  },
  RS_ERR_VERIFY_HISTORY_WRITE: {
    status: 500,
    message: "The history file cannot be written; check the folder exists, its permissions and free space",
  },
  RS_ERR_VERIFY_REPORT_WRITE: {
    status: 500,
    message:
      "The HTML report cannot be written; check its folder exists and is writable, and that node_modules/uplot is installed",
  },
  RS_ERR_VERIFY_HISTORY_INVALID: {
    status: 400,
    message:
      "A history record is invalid; the message names the line and the field (see docs/verify.md for the format)",
  },
});
