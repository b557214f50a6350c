// The shop's error codes (docs/shop.md lists them). Each says whether a mutation that met it
// certainly did not happen (definite).
import { defineErrors } from "../../src/core/index.ts";

export const shopErrors = defineErrors("shop", {
  RS_ERR_SHOP_BAD_REQUEST: {
    status: 400,
    message: "The request is invalid; fix the field named and send it again",
    definite: true,
  },
  RS_ERR_SHOP_NOT_FOUND: { status: 404, message: "No such page or endpoint; see docs/shop.md", definite: true },
  RS_ERR_SHOP_METHOD: {
    status: 405,
    message: "The endpoint does not take this method; see docs/shop.md",
    definite: true,
  },
  RS_ERR_SHOP_NO_SESSION: {
    status: 401,
    message: "This needs a session; log in with POST /api/login and send the cookie back",
    definite: true,
  },
  RS_ERR_SHOP_UNKNOWN_ITEM: {
    status: 400,
    message: "No such item in the catalogue; see GET /api/catalogue",
    definite: true,
  },
  RS_ERR_SHOP_CART_EMPTY: {
    status: 409,
    message: "The cart is empty: nothing to check out; add items first",
    definite: true,
  },
  RS_ERR_SHOP_INTERNAL: {
    status: 500,
    message:
      "The shop failed while handling the request (a bug, logged and counted); retry with the same Idempotency-Key",
    definite: false,
  },
  RS_ERR_SHOP_STORE: {
    status: 503,
    message:
      "The store could not be reached; retry with the same Idempotency-Key (the mutation may have been applied unless definite)",
    definite: false,
  },
});
