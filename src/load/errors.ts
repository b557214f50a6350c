// Error codes of the load generator.
import { defineErrors } from "../core/index.ts";

export const loadErrors = defineErrors("load", {
  RS_ERR_LOAD_OPTIONS: {
    status: 400,
    message: "The load options are invalid; the message names the option and its allowed range",
  },
  RS_ERR_LOAD_NO_REGIONS: {
    status: 400,
    message: "The planet has no client regions to place users in; add a `clients:` list to the planet file",
  },
  RS_ERR_LOAD_DNS: {
    status: 503,
    message:
      "No GSLB DNS server gave a usable answer for the service; check that the planet is up (`redshirt status`) and its DNS tier runs",
  },
  RS_ERR_LOAD_NO_ROUTE: {
    status: 502,
    message:
      "A DNS answer named an address that is not a gateway of the planet; check that the DNS servers serve this planet file",
  },
});
