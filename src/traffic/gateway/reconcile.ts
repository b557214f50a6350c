// Keeps the local balancer's targets in step with the instance source: an instance that
// appears becomes a target (checked at once; ramped up by slow start if it came after the
// gateway started), one that moved or went is removed, and each target takes its lease's
// state (starting, draining and why, version). Logged at every edge, so an operator can
// follow who entered and left rotation.
import type { Logger } from "../../core/index.ts";
import { type Balancer, Target } from "./balancer.ts";
import type { HealthChecker } from "./health.ts";
import type { InstanceInfo } from "./instances.ts";
import { Pool } from "./pool.ts";
import type { UpstreamConn } from "./upstream.ts";

export type ReconcileContext = {
  readonly site: string;
  readonly local: Balancer<UpstreamConn>;
  readonly checker: HealthChecker;
  readonly log: Logger;
  readonly byId: Map<string, Target<UpstreamConn>>;
  /** The gateway listens already: new targets are "late" (slow start), and their first check is not awaited. */
  readonly serving: boolean;
  /** First checks of targets added before the gateway listens; start() awaits them. */
  readonly firstChecks: Promise<void>[];
};

export function reconcileTargets(ctx: ReconcileContext, instances: readonly InstanceInfo[]): void {
  const seen = new Set<string>();
  for (const info of instances) {
    seen.add(info.id);
    let t = ctx.byId.get(info.id);
    if (t && (t.host !== info.host || t.port !== info.port)) {
      removeTarget(ctx, t);
      t = undefined;
    }
    if (!t) {
      t = new Target<UpstreamConn>(
        { id: info.id, site: ctx.site, host: info.host, port: info.port, kind: "instance" },
        new Pool(),
      );
      t.late = ctx.serving;
      t.starting = info.starting ?? false;
      ctx.local.add(t);
      ctx.log.info("instance added", { target: t.id, address: `${info.host}:${info.port}`, starting: t.starting });
      ctx.byId.set(info.id, t);
      const first = ctx.checker.add(t);
      if (!ctx.serving) ctx.firstChecks.push(first);
    }
    t.version = info.version;
    t.drainReason = info.draining ? (info.drainReason ?? "manual") : undefined;
    if (info.draining !== t.draining) {
      t.draining = info.draining;
      if (t.draining) t.pool.closeIdle();
      ctx.log.info(info.draining ? "instance draining" : "instance no longer draining", {
        target: t.id,
        reason: t.drainReason,
      });
    }
    const starting = info.starting ?? false;
    if (starting !== t.starting) {
      t.starting = starting;
      if (!starting) ctx.log.info("instance ready", { target: t.id });
    }
  }
  for (const t of [...ctx.local.targets]) if (!seen.has(t.id)) removeTarget(ctx, t);
}

function removeTarget(ctx: ReconcileContext, t: Target<UpstreamConn>): void {
  ctx.checker.remove(t);
  ctx.local.remove(t);
  ctx.byId.delete(t.id);
  ctx.log.info("instance removed", { target: t.id });
}
