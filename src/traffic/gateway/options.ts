// What a Gateway is built from: the planet and site, where instances come from, and the
// clock, randomness, probes, timeouts and limits that tests and the CLI may replace.
import type { Clock, Logger, Random } from "../../core/index.ts";
import type { GatewaySettings, NodeInfo, Planet } from "../../topology/index.ts";
import type { Timeouts } from "./context.ts";
import type { Probe } from "./health.ts";
import type { InstanceSource } from "./instances.ts";

export type GatewayOptions = {
  readonly planet: Planet;
  readonly site: string;
  /** Which of the site's gateways this is (1-based); sets the listen address. */
  readonly index?: number;
  /** Overrides the address from the planet's address plan. */
  readonly listen?: { readonly host: string; readonly port: number };
  /**
   * Where the site's app instances come from: the registry in production
   * (src/cattle's RegistryInstanceSource); a PlanetInstanceSource (the static address
   * plan) only where no store runs, by explicit choice.
   */
  readonly source: InstanceSource;
  /** Forward to other sites when this one has no capacity (default true). */
  readonly failover?: boolean;
  /** Where another site's gateway is reached (default: topology's dialAddress from this site, through the WAN link when emulated). */
  readonly peerAddress?: (gateway: NodeInfo) => { host: string; port: number };
  readonly clock?: Clock;
  readonly random?: Random;
  readonly log?: Logger;
  readonly healthIntervalMs?: number;
  readonly healthTimeoutMs?: number;
  readonly peerHealthIntervalMs?: number;
  readonly rise?: number;
  readonly fall?: number;
  readonly slowStartMs?: number;
  readonly ejectBaseMs?: number;
  readonly ejectMaxMs?: number;
  /** Panic when more than this share of live instances is ejected (default panicShareDefault); 1 turns panic off. */
  readonly panicShare?: number;
  readonly timeouts?: Partial<Timeouts>;
  /** Overrides the planet file's gateway section (tests). */
  readonly settings?: Partial<Omit<GatewaySettings, "services">>;
  /** The planet secret: authenticates RS-Hop between gateways. Without it no hop is believed or stamped. */
  readonly secret?: Buffer;
  readonly shutdownGraceMs?: number;
  /** How long stop() answers 503 on healthz before it stops accepting (default: until every DNS server dropped it). */
  readonly leaveDnsMs?: number;
  /** Replaces the HTTP probes (tests). */
  readonly probe?: Probe;
  /** More Prometheus text for /_redshirt/metrics (e.g. the registry watcher's). */
  readonly metricsExtra?: () => string;
};
