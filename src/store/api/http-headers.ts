// The HTTP headers of the store's API, lower-case as node:http and undici give them.
export const storeHeaders = {
  /** The consistency level of a request (or `?consistency=`). */
  consistency: "rs-consistency",
  /** The session token, sent back with every request and set on every answer. */
  session: "rs-session",
  /** How long the node may work on the request. */
  timeoutMs: "rs-timeout-ms",
  /** The node that answered. */
  node: "rs-node",
  /** The op id of a mutation. */
  opId: "idempotency-key",
} as const;
