// Error codes of the app SDK.
import { defineErrors } from "../core/index.ts";

export const sdkErrors = defineErrors("sdk", {
  RS_ERR_SDK_CONFIG: {
    status: 400,
    message:
      "The instance's identity is incomplete or invalid; set the variable or option named (REDSHIRT_SITE, REDSHIRT_PLANET, REDSHIRT_INSTANCE_ID, PORT…)",
  },
  RS_ERR_SDK_LISTEN: {
    status: 500,
    message: "The app cannot listen on its address; check that no other process holds it",
  },
});
