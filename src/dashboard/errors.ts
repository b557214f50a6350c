// Error codes of the dashboard (its HTTP API: the page's actions and the event stream).
import { defineErrors } from "../core/index.ts";

export const dashboardErrors = defineErrors("dashboard", {
  RS_ERR_DASHBOARD_UNAUTHORIZED: {
    status: 401,
    message:
      "This action needs the planet's control token: open the link `redshirt up` printed (it carries #token=…); without it the page is read-only",
  },
  RS_ERR_DASHBOARD_BAD_REQUEST: {
    status: 400,
    message: "The action is not well formed; the message names the bad field and what it takes",
  },
  RS_ERR_DASHBOARD_NOT_FOUND: {
    status: 404,
    message: "No such page, asset or action; GET /api/actions lists the actions",
  },
  RS_ERR_DASHBOARD_BUSY: {
    status: 503,
    message: "Too many pages hold the event stream open; close one and reload",
  },
  RS_ERR_DASHBOARD_NO_SUN: {
    status: 409,
    message:
      "The planet does not follow the sun, so its clock speed cannot be set; add a `sun` section to the planet file (docs/cattle.md, Follow the sun)",
  },
  RS_ERR_DASHBOARD_ACTION_FAILED: {
    status: 502,
    message:
      "The operation behind the action failed (a supervisor or link did not answer, or refused); the message carries its code and text",
  },
});
