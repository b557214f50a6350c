import { defineErrors } from "../../core/index.ts";

// Codes only the HTTP front end and its client meet (the engine's codes are in errors.ts).
export const storeHttpErrors = defineErrors("store", {
  RS_ERR_STORE_NOT_FOUND: {
    status: 404,
    message: "The key does not exist (never written, deleted or expired); write it first",
    definite: true,
  },
  RS_ERR_STORE_NO_ROUTE: {
    status: 404,
    message: "No such endpoint; see docs/store.md for the store's HTTP API",
    definite: true,
  },
  RS_ERR_STORE_UNAUTHORIZED: {
    status: 401,
    message:
      "Changing membership or a clock skew (chaos) needs the planet's control token (Authorization: Bearer, derived from the planet secret); run the command where the planet's data dir is",
    definite: true,
  },
  RS_ERR_STORE_METHOD_NOT_ALLOWED: {
    status: 405,
    message: "This endpoint does not take that method; the Allow header lists the ones it takes",
    definite: true,
  },
});
