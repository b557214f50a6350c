import { defineErrors } from "../core/index.ts";

export const wanErrors = defineErrors("wan", {
  RS_ERR_WAN_UNAUTHORIZED: {
    status: 401,
    message:
      "The WAN admin endpoint needs `Authorization: Bearer <control token>`; the token derives from the planet secret (`<dataDir>/planet.secret`)",
  },
  RS_ERR_WAN_BAD_REQUEST: {
    status: 400,
    message: "The WAN admin request is malformed; the message names the field",
  },
  RS_ERR_WAN_UNKNOWN_LINK: {
    status: 404,
    message: "This link process hosts no such link; list them with GET /_redshirt/wan/links",
  },
  RS_ERR_WAN_UNKNOWN_SITE: {
    status: 400,
    message: "No such site in the planet; run one link process per site named in the planet file",
  },
  RS_ERR_WAN_NOT_FOUND: {
    status: 404,
    message: "No such WAN admin path; see docs/wan.md for the endpoints",
  },
  RS_ERR_WAN_METHOD: {
    status: 405,
    message: "Method not allowed on this WAN admin path; GET lists, POST changes",
  },
  RS_ERR_WAN_DIRECT: {
    status: 400,
    message:
      "The planet's WAN is direct (real hosts): there are no emulated links to run or change; set wan.mode: emulated",
  },
  RS_ERR_WAN_LISTEN: {
    status: 500,
    message: "A link proxy cannot listen on its address; another process holds it (is a planet already running?)",
  },
  RS_ERR_WAN_INTERNAL: {
    status: 500,
    message: "The link process failed on this admin request; its log has the cause",
  },
  RS_ERR_WAN_ADMIN: {
    status: 502,
    message: "A WAN link process did not do what was asked; the message says which and why",
  },
});
