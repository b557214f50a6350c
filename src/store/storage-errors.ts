import { defineErrors } from "../core/index.ts";

// Error codes of the store's disk and node-to-node transport. Declared apart from errors.ts
// (the client-facing codes) so the two halves of the store can grow independently.
export const storageErrors = defineErrors("store", {
  RS_ERR_STORE_DISK_OPEN: {
    status: 500,
    message:
      "The node's data file cannot be opened (missing directory, permissions, not a redshirt file, or held by another running node); check the path and that no other node uses it",
    definite: true,
  },
  RS_ERR_STORE_DISK_SCHEMA: {
    status: 500,
    message:
      "The node's data file was written by a newer version of redshirt; run that version, or move the file away to start this node empty",
    definite: true,
  },
  RS_ERR_STORE_DISK_WRITE: {
    status: 507,
    message:
      "Writing to the node's data file failed (disk full or an I/O error) and nothing of the batch was applied; free disk space or replace the node",
    definite: true,
  },
  RS_ERR_STORE_LISTEN: {
    status: 500,
    message:
      "The store node cannot listen on its node-to-node address; check that the address is on this machine and no other process holds the port",
    definite: true,
  },
  RS_ERR_STORE_WIRE: {
    status: 502,
    message:
      "A peer sent a malformed, oversized or unknown-version frame and its connection was closed; check that every node runs the same redshirt version",
    definite: false,
  },
  RS_ERR_STORE_PEER_AUTH: {
    status: 403,
    definite: true,
    message:
      "A node-to-node connection failed the planet-secret handshake and was closed; check that every store node has the same planet.secret and runs the same redshirt version, and that nothing else dials the store's peer ports",
  },
});
