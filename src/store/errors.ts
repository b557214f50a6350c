import { defineErrors } from "../core/index.ts";

// The store's error codes. HTTP clients get `status` and `{"error":{"code","message"}}`.
export const storeErrors = defineErrors("store", {
  RS_ERR_STORE_BAD_REQUEST: {
    status: 400,
    message: "The request is malformed; fix the field named and send it again",
    definite: true,
  },
  RS_ERR_STORE_KEY_TOO_LARGE: {
    status: 413,
    message: "The key is longer than 1 KiB; use a shorter key",
    definite: true,
  },
  RS_ERR_STORE_VALUE_TOO_LARGE: {
    status: 413,
    message: "The value is larger than 1 MiB; store large objects elsewhere and keep a reference",
    definite: true,
  },
  RS_ERR_STORE_WRONG_TYPE: {
    status: 409,
    message: "The key holds another type of value; use an operation of its type, or delete the key first",
    definite: true,
  },
  RS_ERR_STORE_BAD_SESSION: {
    status: 400,
    definite: true,
    message:
      "The session token was altered, cut short or not issued by this planet's store nodes, and nothing was done; send back the RS-Session an answer gave you unchanged, or send none to start a new session",
  },
  RS_ERR_STORE_BAD_CONSISTENCY: {
    status: 400,
    message: "Unknown consistency level; use local-one, local-quorum, global or all",
    definite: true,
  },
  RS_ERR_STORE_CONSISTENCY: {
    status: 503,
    message:
      "Not enough replicas answered to meet the consistency level; the write may still be applied later, so retry with the same op id",
    definite: false,
  },
  RS_ERR_STORE_STALE: {
    status: 503,
    message: "No reachable replica has caught up with the session token yet; retry shortly",
    definite: true,
  },
  RS_ERR_STORE_OVERLOADED: {
    status: 503,
    message:
      "The node is over a queue, memory or disk limit and pushed back before applying anything; retry after the Retry-After delay",
    definite: true,
  },
  RS_ERR_STORE_COUNTER_RANGE: {
    status: 400,
    message: "The counter would leave the safe integer range; use smaller increments",
    definite: true,
  },
  RS_ERR_STORE_UNAVAILABLE: {
    status: 503,
    message:
      "No store node could be reached, so the request was sent to none (not applied); check that the site's store nodes run",
    definite: true,
  },
  RS_ERR_STORE_INTERRUPTED: {
    status: 503,
    message:
      "The node stopped after it may have applied the write, before the level was met; retry with the same op id (on another node)",
    definite: false,
  },
  RS_ERR_STORE_NO_ANSWER: {
    status: 503,
    message:
      "The request reached a node (or was forwarded to a replica) but no answer came in time, so it may have been applied; retry with the same op id",
    definite: false,
  },
  RS_ERR_STORE_MEMBERSHIP: {
    status: 409,
    message:
      "The membership change cannot be made (unknown or duplicate node, a change already in progress, the last node of a site); nothing changed: fix the named field, or wait for the change in progress to finish",
    definite: true,
  },
  RS_ERR_STORE_SHUTTING_DOWN: {
    status: 503,
    message: "The node is stopping and did not take the request (not applied); send it to another node",
    definite: true,
  },
});
