// Error codes of the app SDK.
import { defineErrors } from "../core/index.ts";

export const sdkErrors = defineErrors("sdk", {
  RS_ERR_SDK_CONFIG: {
    status: 400,
    message:
      "The instance's identity is incomplete or invalid; set the variable or option named (REDSHIRT_SITE, REDSHIRT_PLANET, REDSHIRT_INSTANCE_ID, PORT…)",
  },
  RS_ERR_SDK_BAD_BODY: {
    status: 400,
    message: "The request body is not what the endpoint takes; send a JSON object as the API describes",
    definite: true,
  },
  RS_ERR_SDK_BAD_IDEMPOTENCY_KEY: {
    status: 400,
    message: "The Idempotency-Key header is invalid; send 1-128 characters of [A-Za-z0-9._:-], the same on every retry",
    definite: true,
  },
  RS_ERR_SDK_INTERNAL: {
    status: 500,
    message:
      "The app failed while handling the request (a bug); the operation may have been applied, retry with the same Idempotency-Key",
    definite: false,
  },
  RS_ERR_SDK_LISTEN: {
    status: 500,
    message: "The app cannot listen on its address; check that no other process holds it",
  },
});
