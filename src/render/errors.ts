import { defineErrors } from "../core/index.ts";

export const renderErrors = defineErrors("render", {
  RS_ERR_RENDER_UNKNOWN_SITE: {
    status: 400,
    message: "--site names no site of the planet; the message lists the planet's sites",
  },
  RS_ERR_RENDER_EMULATED_WAN: {
    status: 400,
    message:
      "Kubernetes manifests need a planet on real networks: set wan.mode: direct and give each site its routed subnet (see examples/planet-hosts.yaml)",
  },
  RS_ERR_RENDER_BAD_OPTION: {
    status: 400,
    message: "A render option is malformed; the message names the option and what it must be",
  },
});
