// Error codes of the instance registry (part cattle).
import { defineErrors } from "../../core/index.ts";

export const registryErrors = defineErrors("cattle", {
  RS_ERR_CATTLE_REGISTRY_BAD_LEASE: {
    status: 400,
    message:
      "The lease is invalid (id, site, tier, host, port or version); fix the field named, ids are 1-128 of [A-Za-z0-9._-]",
  },
  RS_ERR_CATTLE_REGISTRY_STOPPED: {
    status: 409,
    message: "The lease holder was stopped; start a new holder (a new incarnation) to register again",
  },
});
