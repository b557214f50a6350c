// sdk: what an app author imports. `startInstance` gives an app its place on the planet:
// it registers the instance in its site's registry (a lease kept alive by heartbeats),
// marks it ready once it listens, and on SIGTERM drains it (out of rotation, requests in
// flight finish, lease removed) before it exits. The store client (sessions, state) comes
// from the store part. See docs/discovery.md.
export * as sdkConstants from "./constants.ts";
export { sdkErrors } from "./errors.ts";
export { type Instance, type StartInstanceOptions, startInstance } from "./instance.ts";
