// What the gateway says about itself. `/_redshirt/healthz` is what DNS servers and other
// sites' gateways probe: "this site can serve" — 200 while at least one instance is alive
// (its lease is live and active checks pass), whether it is saturated or ejected, since an
// overloaded site is still better than none. Its body stays small and constant in size
// whatever the instance count: probes judge the status code and must never depend on a
// body that grows (a per-instance list there once made the DNS probe fail past ~32
// instances). `/_redshirt/backends` is the per-instance view the supervisor polls before it
// stops an instance: in rotation or not, why, and the requests still in flight.
import type { Clock } from "../../core/index.ts";
import type { Balancer, Target } from "./balancer.ts";
import type { UpstreamConn } from "./upstream.ts";

export type GatewayHealth = {
  readonly site: string;
  readonly gateway: string;
  /** 200 on /healthz: this site can serve with its own instances (one is alive), and the gateway is not stopping. */
  readonly ok: boolean;
  /** Instances alive: lease live, active checks pass, not draining or starting (ejected or saturated still count). */
  readonly liveInstances: number;
  /** Instances that get new requests now. */
  readonly healthyInstances: number;
  /** Ejection is ignored: most live instances are ejected. */
  readonly panic: boolean;
  /** The site requests go to now when this one has no capacity (null: none, or not needed). */
  readonly failoverSite: string | null;
  readonly shuttingDown: boolean;
};

/** Why a backend gets no new request, or null when it does. */
export type OutOfRotation = "starting" | "draining" | "unhealthy" | "unknown" | "ejected" | "saturated";

export type BackendStatus = {
  readonly id: string;
  readonly address: string;
  readonly version: string | null;
  readonly inRotation: boolean;
  readonly why: OutOfRotation | null;
  /** Who asked for the drain: "lease" (the instance), "drain-set" (the supervisor), "manual". */
  readonly drainReason: string | null;
  readonly healthy: boolean;
  /** Ejected by passive outlier detection (maybe ignored now: see panic). */
  readonly ejected: boolean;
  /** Requests sent to it and not answered yet (tunnels included). */
  readonly inFlight: number;
  /** Requests waiting for a free slot on it (it is saturated). */
  readonly queued: number;
  readonly connections: number;
};

export type PeerStatus = { readonly id: string; readonly site: string; readonly address: string; readonly up: boolean };

export type BackendsView = {
  readonly site: string;
  readonly gateway: string;
  readonly shuttingDown: boolean;
  readonly panic: boolean;
  /** Where the instances come from and how fresh that view is. */
  readonly source: Readonly<Record<string, unknown>>;
  readonly backends: readonly BackendStatus[];
  /** Other sites' gateways (priority failover), nearest site first. */
  readonly peers: readonly PeerStatus[];
};

/** What the views read from the gateway. */
export interface StatusSubject {
  readonly site: string;
  readonly name: string;
  readonly clock: Clock;
  readonly shuttingDown: boolean;
  readonly local: Balancer<UpstreamConn>;
  readonly remote: readonly Balancer<UpstreamConn>[];
}

export function healthView(g: StatusSubject, failoverSite: string | null): GatewayHealth {
  const healthyInstances = g.local.healthyCount();
  const liveInstances = g.local.liveCount();
  return {
    site: g.site,
    gateway: g.name,
    ok: liveInstances > 0 && !g.shuttingDown,
    liveInstances,
    healthyInstances,
    panic: g.local.panic(),
    failoverSite: healthyInstances > 0 ? null : failoverSite,
    shuttingDown: g.shuttingDown,
  };
}

function whyOut(b: Balancer<UpstreamConn>, t: Target<UpstreamConn>, nowMs: number): OutOfRotation | null {
  if (t.draining) return "draining";
  if (t.starting) return "starting";
  if (t.unknown) return "unknown";
  if (!t.healthy) return "unhealthy";
  if (b.ejected(t, nowMs)) return "ejected";
  if (b.saturated(t)) return "saturated";
  return null;
}

export function backendsView(g: StatusSubject, source: Readonly<Record<string, unknown>>): BackendsView {
  const nowMs = g.clock.monoMs();
  const panic = g.local.panic();
  return {
    site: g.site,
    gateway: g.name,
    shuttingDown: g.shuttingDown,
    panic,
    source,
    backends: g.local.targets.map((t) => {
      const why = whyOut(g.local, t, nowMs);
      return {
        id: t.id,
        address: `${t.host}:${t.port}`,
        version: t.version ?? null,
        inRotation: why === null,
        why,
        drainReason: t.drainReason ?? null,
        healthy: t.healthy,
        ejected: nowMs < t.ejectedUntilMs,
        inFlight: t.outstanding,
        queued: t.queue.length,
        connections: t.open,
      };
    }),
    peers: g.remote.flatMap((b) =>
      b.targets.map((t) => ({ id: t.id, site: t.site, address: `${t.host}:${t.port}`, up: b.eligible(t, nowMs) })),
    ),
  };
}
