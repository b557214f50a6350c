import { defineErrors } from "../core/index.ts";

export const topologyErrors = defineErrors("topology", {
  RS_ERR_TOPOLOGY_READ: {
    status: 400,
    message: "Cannot read the planet file; check the path and its permissions",
  },
  RS_ERR_TOPOLOGY_YAML: {
    status: 400,
    message: "The planet file is not valid YAML; fix the syntax at the line named",
  },
  RS_ERR_TOPOLOGY_INVALID: {
    status: 400,
    message: "The planet file is invalid; fix the field named",
  },
  RS_ERR_TOPOLOGY_NO_ROUTE: {
    status: 400,
    message:
      "No link carries this dial; dial a store node, gateway or DNS server of a site by its planet address, from a site or client region of the planet",
  },
  RS_ERR_TOPOLOGY_UNKNOWN_NODE: {
    status: 400,
    message: "No such node in the planet; use an id listed by `redshirt status`",
  },
});
