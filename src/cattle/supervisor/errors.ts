// Error codes of the supervisor (part cattle).
import { defineErrors } from "../../core/index.ts";

export const supervisorErrors = defineErrors("cattle", {
  RS_ERR_CATTLE_SUPERVISOR_RUNNING: {
    status: 409,
    message:
      "A supervisor already runs for this site and data directory (the message names its pid); use it (`redshirt status`) or stop the planet with `redshirt down`",
  },
  RS_ERR_CATTLE_SUPERVISOR_STATE: {
    status: 500,
    message:
      "The supervisor's state file is unreadable or of another format; move it aside (the supervisor then starts from the planet file) and report the file",
  },
  RS_ERR_CATTLE_SUPERVISOR_UNKNOWN_SITE: {
    status: 400,
    message: "The planet has no such site; use one of the site names the message lists",
  },
});
