// Health of every site as this DNS server decides it: its own probes of every gateway
// (HTTP GET /_redshirt/healthz; 200 = can serve), and the probe views of its peers, read
// over their admin endpoints, combined by the voting rule of votes.ts. Clock, randomness,
// the probe and the peer read are components, so a test drives it without a network.
import { z } from "zod";
import { type Clock, channel, type Logger, type Random, type Startable, type TimerHandle } from "../../core/index.ts";
import type { NodeInfo, Planet } from "../../topology/index.ts";
import {
  peerPollIntervalMs,
  peerTimeoutMs,
  peerViewStaleMs,
  probeFall,
  probeIntervalMs,
  probeJitterFraction,
  probeRise,
  probeTimeoutMs,
} from "./constants.ts";
import type { DnsMetrics } from "./metrics.ts";
import type { SiteHealth } from "./ranking.ts";
import { upByVotes, type Vote } from "./votes.ts";
import { type WeightConfig, type WeightStore, weightConfigSchema } from "./weights.ts";

/** What one DNS server sees with its own probes, as served to its peers. */
export type View = {
  readonly server: string;
  readonly gateways: Readonly<Record<string, Vote>>;
  readonly weights: WeightConfig;
};

export const viewSchema = z
  .object({
    server: z.string().max(128),
    gateways: z.record(z.string().max(128), z.enum(["up", "down"])),
    weights: weightConfigSchema,
  })
  .strict();

export type ProbeFn = (gateway: NodeInfo, timeoutMs: number) => Promise<boolean>;
export type FetchViewFn = (peer: NodeInfo, timeoutMs: number) => Promise<unknown>;

export type HealthComponents = {
  readonly clock: Clock;
  readonly random: Random;
  readonly probe: ProbeFn;
  readonly fetchView: FetchViewFn;
  readonly logger: Logger;
  readonly metrics?: DnsMetrics;
};

export type HealthOptions = {
  readonly planet: Planet;
  /** The DNS server this monitor runs in. */
  readonly self: NodeInfo;
  readonly weights: WeightStore;
  /** Called when the consensus or the weights change what answers can be. */
  readonly onChange: () => void;
};

/** Tracing: `redshirt:traffic:dns-health` gets {server, down} whenever the consensus changes. */
const healthChannel = channel("traffic", "dns-health");

type OwnState = { vote: Vote | undefined; upStreak: number; downStreak: number; inFlight: boolean };
type PeerState = { view: View | undefined; fetchedAtMs: number; inFlight: boolean };

export type GatewayConsensus = { readonly up: boolean; readonly voters: number; readonly downVotes: number };

export class HealthMonitor implements Startable {
  readonly #c: HealthComponents;
  readonly #o: HealthOptions;
  readonly #gateways: readonly NodeInfo[];
  readonly #peers: readonly NodeInfo[];
  readonly #own = new Map<string, OwnState>();
  readonly #peerStates = new Map<string, PeerState>();
  #consensus = new Map<string, GatewayConsensus>();
  #timers: TimerHandle[] = [];
  #running = false;

  constructor(components: HealthComponents, options: HealthOptions) {
    this.#c = components;
    this.#o = options;
    this.#gateways = options.planet.gateways;
    this.#peers = options.planet.dnsServers.filter((d) => d.id !== options.self.id);
    for (const g of this.#gateways)
      this.#own.set(g.id, { vote: undefined, upStreak: 0, downStreak: 0, inFlight: false });
    for (const p of this.#peers)
      this.#peerStates.set(p.id, { view: undefined, fetchedAtMs: -Infinity, inFlight: false });
    this.#recompute();
  }

  /** Probes every gateway and reads every peer once, then keeps doing so on timers. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await Promise.all([...this.#gateways.map((g) => this.#probeOnce(g)), ...this.#peers.map((p) => this.#readPeer(p))]);
    if (!this.#running) return;
    for (const g of this.#gateways) this.#scheduleProbe(g);
    this.#schedulePeers();
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const t of this.#timers) t.cancel();
    this.#timers = [];
  }

  /** This server's own probe results, for its peers. */
  ownView(): View {
    const gateways: Record<string, Vote> = {};
    for (const [id, s] of this.#own) if (s.vote) gateways[id] = s.vote;
    return { server: this.#o.self.id, gateways, weights: this.#o.weights.config };
  }

  consensus(): ReadonlyMap<string, GatewayConsensus> {
    return this.#consensus;
  }

  /** Per site, its gateways that are up by consensus. */
  siteHealth(): Map<string, SiteHealth> {
    const out = new Map<string, SiteHealth>();
    for (const site of this.#o.planet.sites) {
      const upHosts = this.#gateways
        .filter((g) => g.site === site.name && this.#consensus.get(g.id)?.up !== false)
        .map((g) => g.host);
      out.set(site.name, { upHosts });
    }
    return out;
  }

  /** Per site, whether this server's own probes see at least one healthy gateway. */
  ownSiteUp(site: string): boolean {
    return this.#gateways.some((g) => g.site === site && this.#own.get(g.id)?.vote !== "down");
  }

  /** Per peer, whether its view is fresh enough to vote. */
  peerFreshness(): Array<[string, boolean]> {
    const now = this.#c.clock.monoMs();
    return this.#peers.map((p) => [p.id, this.#isFresh(this.#peerStates.get(p.id)!, now)]);
  }

  #isFresh(s: PeerState, nowMs: number): boolean {
    return s.view !== undefined && nowMs - s.fetchedAtMs <= peerViewStaleMs;
  }

  #jittered(intervalMs: number): number {
    return intervalMs * (1 - probeJitterFraction + 2 * probeJitterFraction * this.#c.random.next());
  }

  #scheduleProbe(g: NodeInfo): void {
    if (!this.#running) return;
    const timer = this.#c.clock.setTimer(this.#jittered(probeIntervalMs), () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
      this.#scheduleProbe(g);
      void this.#probeOnce(g);
    });
    this.#timers.push(timer);
  }

  #schedulePeers(): void {
    if (!this.#running) return;
    const timer = this.#c.clock.setTimer(this.#jittered(peerPollIntervalMs), () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
      this.#schedulePeers();
      for (const p of this.#peers) void this.#readPeer(p);
      // Views go stale with time alone; re-decide on every tick.
      this.#recompute();
    });
    this.#timers.push(timer);
  }

  async #probeOnce(g: NodeInfo): Promise<void> {
    const s = this.#own.get(g.id)!;
    if (s.inFlight) return;
    s.inFlight = true;
    let ok: boolean;
    try {
      ok = await this.#c.probe(g, probeTimeoutMs);
    } catch {
      ok = false;
    } finally {
      s.inFlight = false;
    }
    this.#c.metrics?.probes.inc({ gateway: g.id, result: ok ? "up" : "down" });
    const before = s.vote;
    if (ok) {
      s.upStreak++;
      s.downStreak = 0;
      if (s.vote === undefined || (s.vote === "down" && s.upStreak >= probeRise)) s.vote = "up";
    } else {
      s.downStreak++;
      s.upStreak = 0;
      if (s.vote === undefined || (s.vote === "up" && s.downStreak >= probeFall)) s.vote = "down";
    }
    if (s.vote !== before) {
      this.#c.logger.info("gateway probe state", { gateway: g.id, from: before ?? "unknown", to: s.vote });
      this.#recompute();
    }
  }

  async #readPeer(p: NodeInfo): Promise<void> {
    const s = this.#peerStates.get(p.id)!;
    if (s.inFlight || !this.#running) return;
    s.inFlight = true;
    try {
      const parsed = viewSchema.safeParse(await this.#c.fetchView(p, peerTimeoutMs));
      if (!parsed.success || parsed.data.server !== p.id) {
        this.#c.metrics?.peerReads.inc({ peer: p.id, result: "invalid" });
        return;
      }
      this.#c.metrics?.peerReads.inc({ peer: p.id, result: "ok" });
      s.view = parsed.data;
      s.fetchedAtMs = this.#c.clock.monoMs();
      if (this.#o.weights.merge(parsed.data.weights)) {
        this.#c.logger.info("adopted newer site weights", { from: p.id, weights: parsed.data.weights });
        this.#o.onChange();
      }
      this.#recompute();
    } catch {
      this.#c.metrics?.peerReads.inc({ peer: p.id, result: "error" });
    } finally {
      s.inFlight = false;
    }
  }

  #recompute(): void {
    const now = this.#c.clock.monoMs();
    const fresh = this.#peers.map((p) => this.#peerStates.get(p.id)!).filter((s) => this.#isFresh(s, now));
    const next = new Map<string, GatewayConsensus>();
    let changed = false;
    for (const g of this.#gateways) {
      const votes: Vote[] = [];
      const own = this.#own.get(g.id)!.vote;
      if (own) votes.push(own);
      for (const s of fresh) {
        const v = s.view!.gateways[g.id];
        if (v) votes.push(v);
      }
      const up = upByVotes(votes);
      const downVotes = votes.filter((v) => v === "down").length;
      next.set(g.id, { up, voters: votes.length, downVotes });
      if (this.#consensus.get(g.id)?.up !== up) changed = true;
    }
    const first = this.#consensus.size === 0;
    this.#consensus = next;
    if (changed && !first) {
      const down = [...next].filter(([, c]) => !c.up).map(([id]) => id);
      this.#c.logger.info("gateway consensus changed", { down });
      if (healthChannel.hasSubscribers) healthChannel.publish({ server: this.#o.self.id, down });
      this.#o.onChange();
    }
  }
}
