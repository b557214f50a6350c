// wan: the emulated WAN on one machine. Every connection between sites, and from a client
// region to a site, crosses a user-space link proxy (the kernel here has no netem) that
// adds the one-way delay of the real distance, jitter without reordering, a bandwidth
// limit, loss, and can be cut and healed at run time, over TCP and UDP. One link process
// per site hosts the site's outbound links and the access links to it, with an
// authenticated admin endpoint. Dialers never import this part: they ask the topology
// (dialAddress) where to dial, and on real hosts that is the target itself.
export { type LinkListing, wanAdminPrefix } from "./admin.ts";
export { linkHostSite, linksBetween, WanAdminClient, type WanAdminClientOptions } from "./admin-client.ts";
export * as wanConstants from "./constants.ts";
export { DelayQueue, type QueueOptions, type QueueSink } from "./delay-queue.ts";
export { wanErrors } from "./errors.ts";
export {
  Link,
  type LinkComponents,
  type LinkFaultView,
  type LinkSlow,
  type LinkStatus,
  type LinkTtl,
} from "./link.ts";
export { WanNode, type WanNodeComponents, type WanNodeOptions } from "./node.ts";
export { runWanProcess } from "./run.ts";
export { type Direction, type LinkSettings, LinkShaper } from "./shaper.ts";
