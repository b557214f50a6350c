// Error codes of chaos (fault specs, injection, healing).
import { defineErrors } from "../core/index.ts";

export const chaosErrors = defineErrors("chaos", {
  RS_ERR_CHAOS_BAD_SPEC: {
    status: 400,
    message: "The fault is not well formed; the message names the bad field and what it takes",
  },
  RS_ERR_CHAOS_NO_FAULT: {
    status: 404,
    message:
      "No supervisor or link holds a fault with this id (it may have ended); `redshirt chaos list` shows the ids",
  },
  RS_ERR_CHAOS_ID_USED: {
    status: 409,
    message:
      "The holder answered with a fault of this id that had already ended: the id was used before, so nothing was injected now — use a new id",
  },
  RS_ERR_CHAOS_UNREACHABLE: {
    status: 503,
    message:
      "The party that must hold the fault (the site's supervisor or WAN link process) did not answer; nothing was injected there — check `redshirt status`",
  },
});
