// The DNS server's error codes (the gateway declares the traffic part's other codes).
import { defineErrors } from "../../core/index.ts";

export const dnsErrors = defineErrors("traffic", {
  RS_ERR_TRAFFIC_DNS_NO_SERVER: {
    status: 400,
    message: "The planet defines no DNS server for this site and index; check --site, --index and the site's tiers.dns",
  },
  RS_ERR_TRAFFIC_DNS_NAME_CLASH: {
    status: 400,
    message: "A service name is also a name server name (ns1, ns2, …) of the zone; rename the service in the planet",
  },
  RS_ERR_TRAFFIC_DNS_LISTEN: {
    status: 500,
    message: "The DNS server cannot listen on its address; check that no other process holds the port",
  },
  RS_ERR_TRAFFIC_DNS_BAD_WEIGHTS: {
    status: 400,
    message: 'Invalid site weights; send a JSON object like {"weights": {"<site>": 0..100}} naming planet sites',
  },
  RS_ERR_TRAFFIC_DNS_UNAUTHORIZED: {
    status: 401,
    message:
      "Changing DNS weights needs `Authorization: Bearer <control token>`; the token derives from the planet secret (`<dataDir>/planet.secret`), as for the supervisors' control API (`redshirt evacuate` sends it)",
  },
  RS_ERR_TRAFFIC_DNS_METHOD: {
    status: 405,
    message: "The DNS admin endpoint changes weights by PUT only (reads are GET); send PUT with a JSON body",
  },
  RS_ERR_TRAFFIC_DNS_CONTENT_TYPE: {
    status: 415,
    message:
      "Weight changes must be sent with `Content-Type: application/json` (a form cannot be); send the JSON body with that type",
  },
  RS_ERR_TRAFFIC_DNS_CROSS_SITE: {
    status: 403,
    message:
      "A browser sent this weight change from another origin (Origin or Sec-Fetch-Site says so); change weights with the CLI, curl or the supervisors, not from a web page",
  },
  RS_ERR_TRAFFIC_DNS_BODY_TOO_LARGE: {
    status: 413,
    message: "The request body is too large for the DNS admin endpoint; send a smaller one",
  },
  RS_ERR_TRAFFIC_DNS_NOT_FOUND: {
    status: 404,
    message: "No such path on the DNS admin endpoint; see docs/dns.md for the paths it serves",
  },
});
