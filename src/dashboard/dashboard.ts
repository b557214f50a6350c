// The dashboard's model of the planet: every supervisor's status polled (statusPollMs), the
// emulated WAN's links (which pairs are cut), the virtual users' operations (TrafficStats),
// the event log, and the long-lived things the page can start and stop — the virtual users
// (runLoad, in this process) and the monkey. Actions run the CLI's operations (actions.ts
// lists them). Whoever listens (the event stream of server.ts) gets the view after every
// poll and every viewPushMs, one chart point every seriesStepMs, and each event as it is logged.
import {
  clockSimMs,
  evacuateSite,
  type PlanetControl,
  planetStatus,
  planetSunClock,
  restoreSite,
  type SiteAnswer,
  type SunClock,
  scaleTier,
  setSunSpeed,
  siteSun,
  wanChange,
  wanLinks,
} from "../cattle/index.ts";
import { type Chaos, createChaos, type Monkey } from "../chaos/index.ts";
import type { Logger, Registry } from "../core/index.ts";
import type { Planet } from "../topology/index.ts";
import type { Action } from "./actions.ts";
import {
  controlTimeoutMs,
  faultsLoggedMax,
  gatewayPollMs,
  gatewayScrapeTimeoutMs,
  linksPollMs,
  markersMax,
  monkeyTtlMs,
  replicationPollMs,
  seriesStepMs,
  statusPollMs,
  viewPushMs,
} from "./constants.ts";
import { dashboardErrors } from "./errors.ts";
import { type DashboardEvent, diffServing, diffStatus, type EventKind, EventLog } from "./events.ts";
import { GatewayTraffic, mergeArcs } from "./gateway-traffic.ts";
import { type Replication, scrapeReplication } from "./store-scrape.ts";
import { type SeriesPoint, TrafficStats } from "./traffic-stats.ts";
import { killedWhole, type PlanetView, siteView } from "./view.ts";
import { VirtualUsers } from "./virtual-users.ts";
import { type WorldMap, worldMap } from "./world-map.ts";

export type Marker = { readonly tS: number; readonly label: string };

/** What a page gets when it connects: the planet's layout, the map and everything so far. */
export type Hello = {
  readonly planet: {
    readonly name: string;
    readonly sites: readonly { name: string; city: string; lat: number; lon: number }[];
    readonly regions: readonly { name: string; lat: number; lon: number }[];
    readonly wan: "emulated" | "direct";
    /** Whether the planet follows the sun (its clock speed can be set). */
    readonly sun: boolean;
  };
  readonly map: WorldMap;
  readonly view: PlanetView;
  readonly series: readonly SeriesPoint[];
  readonly markers: readonly Marker[];
  readonly events: readonly DashboardEvent[];
};

export type Push =
  | { readonly type: "view"; readonly data: PlanetView }
  | { readonly type: "point"; readonly data: SeriesPoint }
  | { readonly type: "event"; readonly data: DashboardEvent }
  | { readonly type: "marker"; readonly data: Marker };

export type DashboardOptions = {
  readonly planet: Planet;
  readonly secret: Buffer;
  readonly log: Logger;
  readonly metrics: Registry;
};

export class PlanetDashboard {
  readonly #o: DashboardOptions;
  readonly #ctl: PlanetControl;
  readonly #chaos: Chaos;
  readonly #stats: TrafficStats;
  readonly #gateways: GatewayTraffic;
  readonly #events: EventLog;
  readonly #listeners = new Set<(p: Push) => void>();
  readonly #markers: Marker[] = [];
  #answers: SiteAnswer[] = [];
  #cut: [string, string][] = [];
  #replication: Replication = { lagMsBySite: [], hintsBySite: [] };
  #serving = new Map<string, string>();
  #lastSunClock: SunClock | undefined;
  /** `kind:id` of the fault events logged (bounded: cleared past faultsLoggedMax). */
  readonly #faultsLogged = new Set<string>();
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  readonly #users: VirtualUsers;
  #monkey: Monkey | undefined;
  readonly #pollErrors;
  readonly #actionErrors;
  readonly #scrapeFailures;
  readonly #gatewayScrapeFailures;

  constructor(o: DashboardOptions) {
    this.#o = o;
    this.#ctl = { planet: o.planet, secret: o.secret, timeoutMs: controlTimeoutMs };
    this.#chaos = createChaos({ planet: o.planet, secret: o.secret, timeoutMs: controlTimeoutMs });
    this.#stats = new TrafficStats(
      o.planet.sites.map((s) => s.name),
      o.planet.clients.map((c) => c.name),
    );
    this.#gateways = new GatewayTraffic(o.planet.clients.map((c) => c.name));
    this.#users = new VirtualUsers(
      o.planet,
      (op) => this.#stats.add(op),
      (err) => {
        this.#actionErrors.inc({ what: "users" });
        this.#o.log.error("dashboard: the virtual users stopped on an error", { err });
        this.#events.add("error", null, `virtual users stopped: ${(err as Error).message}`);
      },
    );
    this.#events = new EventLog((e) => {
      this.#push({ type: "event", data: e });
      if (e.kind === "fault") this.#mark(e.text.split(" (")[0]);
    });
    this.#pollErrors = o.metrics.counter(
      "redshirt_dashboard_poll_errors_total",
      "Polls of the supervisors or the WAN links that failed as a whole (a site not answering is shown, not counted)",
    );
    this.#scrapeFailures = o.metrics.counter(
      "redshirt_dashboard_store_scrapes_failed_total",
      "Store nodes whose /metrics did not answer a scrape (a killed node does not), by node",
    );
    this.#gatewayScrapeFailures = o.metrics.counter(
      "redshirt_dashboard_gateway_scrapes_failed_total",
      "Gateways whose metrics did not answer a scrape (a killed gateway does not), by gateway",
    );
    this.#actionErrors = o.metrics.counter(
      "redshirt_dashboard_background_errors_total",
      "Failures of what the dashboard runs in the background (the virtual users, the monkey's injections)",
    );
  }

  start(): void {
    void this.#pollStatus();
    if (this.#o.planet.wan.mode === "emulated") void this.#pollLinks();
    void this.#pollReplication();
    void this.#pollGateways();
    this.#timers.push(setInterval(() => this.#push({ type: "view", data: this.view() }), viewPushMs));
    this.#timers.push(
      setInterval(
        () => this.#push({ type: "point", data: this.#stats.step(seriesStepMs, this.#replication) }),
        seriesStepMs,
      ),
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#monkey?.stop();
    this.#monkey = undefined;
    await this.#users.close();
    await this.#chaos.close();
  }

  subscribe(listener: (p: Push) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #push(p: Push): void {
    for (const l of this.#listeners) l(p);
  }

  /** Logs an event; one about a fault already logged from another source (same kind and id) is left out. */
  #log(kind: EventKind, site: string | null, text: string, faultId?: string): void {
    if (faultId !== undefined) {
      const key = `${kind}:${faultId}`;
      if (this.#faultsLogged.has(key)) return;
      if (this.#faultsLogged.size >= faultsLoggedMax) this.#faultsLogged.clear();
      this.#faultsLogged.add(key);
    }
    this.#events.add(kind, site, text);
  }

  #mark(label: string): void {
    const m = { tS: Date.now() / 1000, label };
    this.#markers.push(m);
    if (this.#markers.length > markersMax) this.#markers.shift();
    this.#push({ type: "marker", data: m });
  }

  async #pollStatus(): Promise<void> {
    while (!this.#stopped) {
      const started = Date.now();
      try {
        const answers = await planetStatus(this.#ctl);
        for (const a of answers) {
          diffStatus(
            this.#answers.find((b) => b.site === a.site),
            a,
            (k, s, t, faultId) => this.#log(k, s, t, faultId),
          );
        }
        this.#answers = answers;
        this.#push({ type: "view", data: this.view() });
      } catch (err) {
        this.#pollErrors.inc({ what: "status" });
        this.#o.log.warn("dashboard: status poll failed", { err });
      }
      await new Promise((r) => setTimeout(r, Math.max(50, statusPollMs - (Date.now() - started))));
    }
  }

  async #pollLinks(): Promise<void> {
    while (!this.#stopped) {
      try {
        const links = await wanLinks(this.#ctl);
        const pairs = new Map<string, [string, string]>();
        for (const l of links) {
          if (!l.cut || l.fromKind !== "site") continue;
          const pair = [l.from, l.to].sort() as [string, string];
          pairs.set(pair.join("|"), pair);
        }
        this.#cut = [...pairs.values()];
      } catch (err) {
        // A link process of a lost site does not answer; the others' links still count.
        this.#pollErrors.inc({ what: "links" });
        this.#o.log.debug("dashboard: links poll failed", { err });
      }
      await new Promise((r) => setTimeout(r, linksPollMs));
    }
  }

  async #pollReplication(): Promise<void> {
    while (!this.#stopped) {
      this.#replication = await scrapeReplication(this.#o.planet, controlTimeoutMs, (node, err) => {
        this.#scrapeFailures.inc({ node });
        this.#o.log.debug("dashboard: a store node's metrics did not answer", { node, err });
      });
      await new Promise((r) => setTimeout(r, replicationPollMs));
    }
  }

  async #pollGateways(): Promise<void> {
    while (!this.#stopped) {
      const started = Date.now();
      await this.#gateways.scrape(this.#o.planet, gatewayScrapeTimeoutMs, (gateway, err) => {
        this.#gatewayScrapeFailures.inc({ gateway });
        this.#o.log.debug("dashboard: a gateway's metrics did not answer", { gateway, err });
      });
      await new Promise((r) => setTimeout(r, Math.max(50, gatewayPollMs - (Date.now() - started))));
    }
  }

  view(): PlanetView {
    const own = this.#stats.view();
    const killed = new Set(this.#answers.filter(killedWhole).map((a) => a.site));
    const traffic = { ...own, arcs: mergeArcs(own.arcs, this.#gateways.arcs(), killed) };
    const serving = new Map<string, string>();
    for (const region of this.#o.planet.clients.map((c) => c.name)) {
      const top = traffic.arcs.filter((a) => a.region === region).sort((x, y) => y.ops - x.ops)[0];
      if (top) serving.set(region, top.site);
    }
    diffServing(this.#serving, serving, (k, s, t) => this.#events.add(k, s, t));
    for (const [r, s] of serving) this.#serving.set(r, s);
    const clock = this.#sunClock();
    return {
      nowMs: Date.now(),
      sunUtcMs: clock ? clockSimMs(clock, Date.now()) : Date.now(),
      sunClockSpeed: clock?.clockSpeed ?? 1,
      sites: this.#o.planet.sites.map((s) =>
        siteView(
          s,
          this.#answers.find((a) => a.site === s.name),
          traffic,
        ),
      ),
      arcs: traffic.arcs,
      regions: traffic.regions,
      partitions: this.#cut,
      load: {
        running: this.#users.usersPerRegion > 0,
        usersPerRegion: this.#users.usersPerRegion,
        ops: traffic.totalOps,
        errors: traffic.totalErrors,
      },
      monkey: this.#monkey
        ? { running: true, injected: this.#monkey.injected, blocked: this.#monkey.blocked, failed: this.#monkey.failed }
        : { running: false, injected: 0, blocked: 0, failed: 0 },
    };
  }

  /**
   * The sun clock the sites run: the most recently anchored one seen (kept while no
   * supervisor answers, so the page's clock does not jump back), else the planet file's.
   */
  #sunClock(): SunClock | undefined {
    const first = this.#o.planet.sites[0];
    const sun = first ? siteSun(this.#o.planet, first) : undefined;
    if (!sun) return undefined;
    let clock = this.#lastSunClock ?? planetSunClock(sun);
    for (const a of this.#answers) {
      const s = a.reachable ? a.status.sun : null;
      if (s && s.anchorRealMs >= clock.anchorRealMs) {
        clock = { clockSpeed: s.clockSpeed, anchorRealMs: s.anchorRealMs, anchorSimMs: s.anchorSimMs };
      }
    }
    this.#lastSunClock = clock;
    return clock;
  }

  hello(): Hello {
    const p = this.#o.planet;
    return {
      planet: {
        name: p.name,
        sites: p.sites.map((s) => ({ name: s.name, city: s.city, lat: s.lat, lon: s.lon })),
        regions: p.clients.map((c) => ({ name: c.name, lat: c.lat, lon: c.lon })),
        wan: p.wan.mode,
        sun: p.sun !== undefined,
      },
      map: worldMap(),
      view: this.view(),
      series: this.#stats.series(),
      markers: this.#markers,
      events: this.#events.list(),
    };
  }

  /** Runs one action (already checked); answers what the operation answered. */
  async run(action: Action): Promise<unknown> {
    const log = (text: string, site: string | null = null) => this.#events.add("action", site, text);
    try {
      return await this.#run(action, log);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      log(`${action.name} failed: ${e.code ?? "error"}: ${e.message ?? String(err)}`);
      if (e.code?.startsWith("RS_ERR_DASHBOARD_")) throw err;
      throw dashboardErrors.create("RS_ERR_DASHBOARD_ACTION_FAILED", `${e.code ?? "error"}: ${e.message}`, {
        cause: err,
        detail: { operationCode: e.code ?? null },
      });
    }
  }

  async #run(a: Action, log: (text: string, site?: string | null) => void): Promise<unknown> {
    switch (a.name) {
      case "kill-instance": {
        log(`kill ${a.site} ${a.slot}`, a.site);
        return await this.#chaos.inject({ kind: "kill-instance", site: a.site, slot: a.slot, ttlMs: 0 });
      }
      case "kill-tier":
        log(`kill ${a.site}'s ${a.tier} tier for ${a.ttlMs / 1000} s`, a.site);
        return await this.#chaos.inject({ kind: "kill-tier", site: a.site, tier: a.tier, ttlMs: a.ttlMs });
      case "kill-site":
        log(`kill site ${a.site} for ${a.ttlMs / 1000} s`, a.site);
        return await this.#chaos.inject({ kind: "kill-site", site: a.site, ttlMs: a.ttlMs });
      case "heal-site": {
        const held = (await this.#chaos.list()).faults.filter((f) => f.site === a.site || f.peer === a.site);
        log(`heal ${a.site}: ${held.length} fault(s)`, a.site);
        return { healed: await Promise.all(held.map((f) => this.#chaos.heal(f.id))) };
      }
      case "heal-fault":
        log(`heal fault ${a.id}`);
        return await this.#chaos.heal(a.id);
      case "partition":
      case "heal-link": {
        const how = a.name === "partition" ? "cut" : "heal";
        log(`wan ${how} ${a.a} ${a.b}`);
        const links = await wanChange(this.#ctl, how, a.a, a.b);
        if (how === "cut") this.#mark(`partition ${a.a}↔${a.b}`);
        return { links: links.map((l) => ({ id: l.id, cut: l.cut })) };
      }
      case "evacuate":
        log(`evacuate ${a.site}`, a.site);
        return { evacuation: await evacuateSite(this.#ctl, a.site, { wait: false }) };
      case "restore":
        log(`restore ${a.site}`, a.site);
        return { evacuation: await restoreSite(this.#ctl, a.site, { wait: false }) };
      case "scale":
        log(`scale ${a.site} ${a.tier} ${a.count}`, a.site);
        return { tier: await scaleTier(this.#ctl, a.site, a.tier, a.count) };
      case "monkey-start":
        return this.#startMonkey(a.ratePerMin, a.seed, log);
      case "monkey-stop": {
        const m = this.#monkey;
        this.#monkey = undefined;
        await m?.stop();
        log(
          m ? `monkey stopped after ${m.injected} faults (those held revert at their TTL)` : "monkey was not running",
        );
        return { stopped: m !== undefined };
      }
      case "users-start": {
        const started = this.#users.start(a.usersPerRegion, a.seed);
        log(
          started
            ? `virtual users started: ${a.usersPerRegion} per region, seed ${a.seed}`
            : `virtual users already run (${this.#users.usersPerRegion} per region)`,
        );
        return { running: true, usersPerRegion: this.#users.usersPerRegion };
      }
      case "sun-speed": {
        log(`sun clock ×${a.clockSpeed}`);
        const out = await setSunSpeed(this.#ctl, a.clockSpeed);
        const missed = out.sites.filter((x) => !x.ok).map((x) => x.site);
        if (missed.length > 0) log(`sun clock ×${a.clockSpeed} not taken by ${missed.join(", ")} (run it again)`);
        // The page shows the new clock from the next status poll (at most statusPollMs).
        return out;
      }
      case "users-stop": {
        const stopped = this.#users.stop();
        log(stopped ? "virtual users stopping (ops in flight finish)" : "virtual users were not running");
        return { stopped };
      }
    }
  }

  #startMonkey(ratePerMin: number, seed: number, log: (text: string) => void): unknown {
    if (this.#monkey) return { running: true };
    this.#monkey = this.#chaos.monkey({
      seed,
      ratePerMin,
      ttlMs: monkeyTtlMs,
      onFault: (r) => {
        if (r.type === "fault") {
          const t = r.target;
          const what = [t.site, t.peer ? `↔ ${t.peer}` : null, t.tier ?? null, t.instance ?? null]
            .filter(Boolean)
            .join(" ");
          this.#log("fault", t.site, `monkey: ${r.kind} ${what} (${r.id}, ttl ${Math.round(r.ttlMs / 1000)} s)`, r.id);
        } else {
          this.#log("fault-end", null, `monkey: ${r.id} ended (${r.reason})`, r.id);
        }
      },
      onError: (err, spec) => {
        this.#actionErrors.inc({ what: "monkey" });
        this.#o.log.warn("dashboard: the monkey's injection failed", { err, kind: spec.kind });
        this.#events.add("error", spec.site ?? null, `monkey: ${spec.kind} failed: ${(err as Error).message}`);
      },
    });
    log(`monkey started: seed ${seed}, ${ratePerMin} faults/min`);
    return { running: true, seed };
  }
}
