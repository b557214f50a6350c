import { defineErrors } from "../core/index.ts";

// The store's error codes. HTTP clients get `status` and `{"error":{"code","message"}}`.
export const storeErrors = defineErrors("store", {
  RS_ERR_STORE_BAD_REQUEST: {
    status: 400,
    message: "The request is malformed; fix the field named and send it again",
  },
  RS_ERR_STORE_KEY_TOO_LARGE: { status: 413, message: "The key is longer than 1 KiB; use a shorter key" },
  RS_ERR_STORE_VALUE_TOO_LARGE: {
    status: 413,
    message: "The value is larger than 1 MiB; store large objects elsewhere and keep a reference",
  },
  RS_ERR_STORE_WRONG_TYPE: {
    status: 409,
    message: "The key holds another type of value; use an operation of its type, or delete the key first",
  },
  RS_ERR_STORE_BAD_SESSION: {
    status: 400,
    message:
      "The session token was altered, cut short or not issued by this planet's store nodes, and nothing was done; send back the RS-Session an answer gave you unchanged, or send none to start a new session",
  },
  RS_ERR_STORE_BAD_CONSISTENCY: {
    status: 400,
    message: "Unknown consistency level; use local-one, local-quorum, global or all",
  },
  RS_ERR_STORE_CONSISTENCY: {
    status: 503,
    message:
      "Not enough replicas answered to meet the consistency level; the write may still be applied later, so retry with the same op id",
  },
  RS_ERR_STORE_STALE: {
    status: 503,
    message: "No reachable replica has caught up with the session token yet; retry shortly",
  },
  RS_ERR_STORE_OVERLOADED: {
    status: 503,
    message: "The node is over a queue, memory or disk limit and pushes back; retry after the Retry-After delay",
  },
  RS_ERR_STORE_COUNTER_RANGE: {
    status: 400,
    message: "The counter would leave the safe integer range; use smaller increments",
  },
  RS_ERR_STORE_UNAVAILABLE: {
    status: 503,
    message: "No store node could be reached; check that the site's store nodes run",
  },
  RS_ERR_STORE_SHUTTING_DOWN: { status: 503, message: "The node is stopping; send the request to another node" },
});
