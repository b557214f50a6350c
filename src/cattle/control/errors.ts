// Error codes of the control API and its clients (part cattle).
import { defineErrors } from "../../core/index.ts";

export const controlErrors = defineErrors("cattle", {
  RS_ERR_CATTLE_CONTROL_UNAUTHORIZED: {
    status: 401,
    message:
      "Missing or wrong bearer token; send `Authorization: Bearer <token>` with the control token derived from the planet secret (the CLI does this when it can read <dataDir>/planet.secret)",
  },
  RS_ERR_CATTLE_CONTROL_NOT_FOUND: { status: 404, message: "No such control endpoint; GET /v1 lists them" },
  RS_ERR_CATTLE_CONTROL_METHOD: { status: 405, message: "This endpoint does not take that method; GET /v1 lists them" },
  RS_ERR_CATTLE_CONTROL_BAD_REQUEST: {
    status: 400,
    message: "The request body is not what this endpoint takes; the message names the field",
  },
  RS_ERR_CATTLE_CONTROL_BODY_TOO_LARGE: { status: 413, message: "The request body is too large for a control call" },
  RS_ERR_CATTLE_CONTROL_UNKNOWN_TIER: {
    status: 400,
    message: "No such tier; a site's tiers are store, app, gateway and dns",
  },
  RS_ERR_CATTLE_CONTROL_BAD_COUNT: {
    status: 400,
    message: "The count must be a non-negative integer no larger than the tier's maximum (the message says it)",
  },
  RS_ERR_CATTLE_CONTROL_UNKNOWN_SITE: {
    status: 400,
    message: "The planet has no such site; use one of the names the message lists",
  },
  RS_ERR_CATTLE_CONTROL_STOPPING: {
    status: 409,
    message: "The supervisor is stopping everything; wait for it to finish, then start the planet again",
  },
  RS_ERR_CATTLE_CONTROL_ROLLOUT_RUNNING: {
    status: 409,
    message: "A rollout is still running on this site; wait until it is done or rolled back (`redshirt status`)",
  },
  RS_ERR_CATTLE_CONTROL_SUN_OWNS_APP: {
    status: 409,
    message:
      "This planet follows the sun: the app count of each site comes from the planet file's sun section; change peakInstances/minInstances there (or evacuate the site)",
  },
  RS_ERR_CATTLE_CONTROL_NO_SUN: {
    status: 409,
    message:
      "This planet does not follow the sun, so it has no sun clock to set; add a `sun` section to the planet file (docs/cattle.md, Follow the sun) and start the planet again",
  },
  RS_ERR_CATTLE_CONTROL_LAST_SITE: {
    status: 409,
    message:
      "Evacuating this site would leave no site serving users; restore another site first (`redshirt restore SITE`), or check `redshirt status`",
  },
  RS_ERR_CATTLE_CONTROL_FAULT_REFUSED: {
    status: 409,
    message:
      "The supervisor cannot apply this fault now (nothing running to pause, already paused, or too many faults held); `redshirt chaos list` shows what is held",
  },
  RS_ERR_CATTLE_CONTROL_NO_FAULT: {
    status: 404,
    message: "No fault with this id is held on the site; `redshirt chaos list` shows the ids",
  },
  RS_ERR_CATTLE_CONTROL_NO_TARGET: {
    status: 400,
    message:
      "The fault names a slot or instance the site does not have (or of the wrong tier); the message lists the slots",
  },
  RS_ERR_CATTLE_CONTROL_TIMEOUT: {
    status: 504,
    message:
      "The operation did not finish in its bounded wait; it goes on in the supervisor — watch `redshirt status`, and run the command again (it is idempotent)",
  },
  RS_ERR_CATTLE_CONTROL_UNREACHABLE: {
    status: 503,
    message:
      "The site's supervisor did not answer; it may be down (the planet keeps serving) — `redshirt up` starts it again and it adopts its instances",
  },
});
