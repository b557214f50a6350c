// runLoad: virtual users in every client region of the planet, each a browser of its own
// (a cookie jar, a connection pool dialing over the region's access link, a stub resolver
// asking the GSLB DNS with the region's client subnet and honouring the TTL), running a
// seeded shopper's script one op at a time until the run's time is up. Every op becomes
// one history record (src/verify's format), written as it finishes. In-process, so
// `redshirt proof` can run it beside chaos and write both into one history.
import { type Clock, type Random, seededRandom, systemClock } from "../core/index.ts";
import { dialAddress, formatIpv4, type Planet, parseCidr, sitesByDistance } from "../topology/index.ts";
import { type HistoryHeader, mutationKinds, type OpRecord, verifyConstants } from "../verify/index.ts";
import {
  attemptsMaxDefault,
  attemptsMaxLimit,
  durationMsMax,
  opTimeMsMaxDefault,
  progressIntervalMs,
  requestTimeoutMsDefault,
  thinkMsMaxDefault,
  thinkMsMinDefault,
  usersMax,
} from "./constants.ts";
import { CookieJar } from "./cookie-jar.ts";
import { createUserAgent, regionLocalAddress } from "./dialer.ts";
import { type ClientSubnet, DnsClient, UserDns } from "./dns-client.ts";
import { loadErrors } from "./errors.ts";
import { type OpStats, runOperation, sleep, type UserContext } from "./operation.ts";
import { newBelief, nextAction, observe } from "./user-model.ts";

/** Where the records go: a HistoryWriter, or anything that takes them in order. */
export type HistorySink = { write(record: OpRecord): Promise<void> };

export type RegionStats = {
  ops: number;
  /** Ops whose final outcome was an error or unknown: what the user saw. */
  errors: number;
  /** Ops that needed more than one attempt. */
  retried: number;
  /** Successful ops by the site that served them. */
  servedBySite: Record<string, number>;
  latencyMsSum: number;
};

export type LoadProgress = {
  readonly elapsedMs: number;
  readonly ops: number;
  readonly errors: number;
  /** Ops finished per second over the last interval. */
  readonly opsPerS: number;
  readonly byRegion: Readonly<Record<string, RegionStats>>;
};

export type LoadSummary = LoadProgress & {
  readonly users: number;
  readonly nextAddress: number;
  readonly dnsQueries: number;
  readonly dnsFailures: number;
  readonly runId: string;
};

export type LoadOptions = {
  readonly planet: Planet;
  readonly seed: number;
  readonly durationMs: number;
  readonly usersPerRegion: number;
  readonly history: HistorySink;
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Aborting stops users starting new ops; ops in flight finish (bounded by opTimeMsMax). */
  readonly signal?: AbortSignal;
  /** The clock of the history's times (monoMs) and of every wait; default the system's. */
  readonly clock?: Clock;
  /** Makes user names unique to this run (a planet keeps carts and orders across runs); default from the wall clock. */
  readonly runId?: string;
  /** Only these regions (default every client region of the planet). */
  readonly regions?: readonly string[];
  /** The service users ask the DNS for; default the planet's first, in its zone. */
  readonly service?: string;
  readonly thinkMsMin?: number;
  readonly thinkMsMax?: number;
  readonly attemptsMax?: number;
  readonly opTimeMsMax?: number;
  readonly requestTimeoutMs?: number;
};

function optionError(text: string) {
  return loadErrors.create("RS_ERR_LOAD_OPTIONS", text);
}

function checkRange(name: string, value: number, min: number, max: number): void {
  if (!(Number.isFinite(value) && value >= min && value <= max)) {
    throw optionError(`${name} must be in ${min}..${max} (got ${value})`);
  }
}

/** A user's own random stream: the run's seed, the region and the user's index, mixed. */
export function userRandom(seed: number, regionIndex: number, userIndex: number, stream: number): Random {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const v of [regionIndex, userIndex, stream]) h = Math.imul(h ^ (v + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  return seededRandom(h);
}

/** A user's client subnet: their own /24 inside the region's network (a resolver's ECS), or the network itself when it is smaller. */
export function userSubnet(cidrText: string, userIndex: number): ClientSubnet {
  const cidr = parseCidr(cidrText);
  if (!cidr) throw optionError(`client network ${cidrText} is not an IPv4 CIDR`);
  if (cidr.prefixLength >= 24) return { ip: formatIpv4(cidr.base), prefix: cidr.prefixLength };
  const slots = 2 ** (24 - cidr.prefixLength);
  return { ip: formatIpv4((cidr.base + (userIndex % slots) * 256) >>> 0), prefix: 24 };
}

/** The history header for a load run of this planet: its sites, and each region with its nearest site. */
export function loadHistoryHeader(
  planet: Planet,
  options: { seed: number; commit: string; durationMsPlanned?: number; regions?: readonly string[] },
): HistoryHeader {
  const clients = planet.clients.filter((c) => !options.regions || options.regions.includes(c.name));
  return {
    type: "header",
    format: verifyConstants.historyFormatName as "redshirt-history",
    version: verifyConstants.historyVersion as 1,
    seed: options.seed,
    commit: options.commit,
    planet: planet.name,
    startedAtIso: new Date().toISOString(),
    ...(options.durationMsPlanned === undefined ? {} : { durationMsPlanned: options.durationMsPlanned }),
    sites: planet.sites.map((s) => ({ name: s.name })),
    regions: clients.map((c) => ({ name: c.name, nearestSite: sitesByDistance(planet, c)[0].name })),
  };
}

function emptyStats(): RegionStats {
  return { ops: 0, errors: 0, retried: 0, servedBySite: {}, latencyMsSum: 0 };
}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const { planet } = options;
  const clock = options.clock ?? systemClock;
  checkRange("durationMs", options.durationMs, 0, durationMsMax);
  checkRange("usersPerRegion", options.usersPerRegion, 1, usersMax);
  const attemptsMax = options.attemptsMax ?? attemptsMaxDefault;
  checkRange("attemptsMax", attemptsMax, 1, attemptsMaxLimit);
  const opTimeMsMax = options.opTimeMsMax ?? opTimeMsMaxDefault;
  checkRange("opTimeMsMax", opTimeMsMax, 1, 3_600_000);
  const requestTimeoutMs = options.requestTimeoutMs ?? requestTimeoutMsDefault;
  checkRange("requestTimeoutMs", requestTimeoutMs, 1, opTimeMsMax);
  const thinkMsMin = options.thinkMsMin ?? thinkMsMinDefault;
  const thinkMsMax = options.thinkMsMax ?? Math.max(thinkMsMin, thinkMsMaxDefault);
  checkRange("thinkMsMin", thinkMsMin, 0, 3_600_000);
  checkRange("thinkMsMax", thinkMsMax, thinkMsMin, 3_600_000);
  const clients = planet.clients.filter((c) => !options.regions || options.regions.includes(c.name));
  for (const r of options.regions ?? []) {
    if (!planet.clients.some((c) => c.name === r)) {
      throw optionError(
        `region ${r} is not a client region of planet ${planet.name} (${planet.clients.map((c) => c.name).join(", ")})`,
      );
    }
  }
  if (clients.length === 0) throw loadErrors.create("RS_ERR_LOAD_NO_REGIONS", `planet ${planet.name}`);
  if (clients.length * options.usersPerRegion > usersMax) {
    throw optionError(`${clients.length} regions × ${options.usersPerRegion} users is over ${usersMax}`);
  }
  const service = options.service ?? planet.services[0];
  const host = `${service}.${planet.zone}`.replace(/\.$/, "");
  const runId = options.runId ?? `r${Date.now().toString(36)}`;
  if (!/^[A-Za-z0-9._-]{1,24}$/.test(runId)) throw optionError(`runId must be 1–24 of [A-Za-z0-9._-] (got ${runId})`);

  const byRegion: Record<string, RegionStats> = Object.fromEntries(clients.map((c) => [c.name, emptyStats()]));
  const stats: OpStats = { nextAddress: 0, dnsFailures: 0 };
  const dnsClients: DnsClient[] = [];
  const startMs = clock.monoMs();
  const endAtMs = startMs + options.durationMs;
  const stopped = () => options.signal?.aborted === true || clock.monoMs() >= endAtMs;
  let writeFailure: Error | undefined;

  const user = async (regionIndex: number, userIndex: number): Promise<void> => {
    const region = clients[regionIndex];
    const name = `${runId}-${region.name}-${userIndex + 1}`;
    const script = userRandom(options.seed, regionIndex, userIndex, 0);
    const jitter = userRandom(options.seed, regionIndex, userIndex, 1);
    // The user's resolver asks the DNS servers nearest to the region first.
    const servers = sitesByDistance(planet, region).flatMap((site) =>
      planet.dnsServers
        .filter((d) => d.site === site.name)
        .map((d) => dialAddress(planet, region.name, { host: d.host, port: planet.ports.dns, site: d.site })),
    );
    const dnsClient = new DnsClient(
      { servers, ecs: userSubnet(region.cidr, userIndex), localAddress: regionLocalAddress(planet, region.name) },
      { clock, random: jitter },
    );
    dnsClients.push(dnsClient);
    const agent = createUserAgent(planet, region.name);
    const ctx: UserContext = {
      user: name,
      region: region.name,
      agent,
      dns: new UserDns(dnsClient, clock, `${host}.`),
      jar: new CookieJar(clock),
      host,
      port: planet.ports.gateway,
      clock,
      jitter,
      limits: { attemptsMax, opTimeMsMax, requestTimeoutMs },
      preferred: { addresses: [], index: 0 },
    };
    const belief = newBelief();
    const s = byRegion[region.name];
    let seq = 0;
    try {
      // Users start spread over the first think time, not all in the same millisecond.
      await sleep(clock, script.next() * thinkMsMax);
      while (!stopped() && !writeFailure) {
        const action = nextAction(belief, script, name);
        seq++;
        const key = mutationKinds.has(action.kind) ? `${name}-${seq}` : undefined;
        const { record, seen } = await runOperation(ctx, action, key, stats);
        observe(belief, action, seen);
        s.ops++;
        s.latencyMsSum += record.endMs - record.startMs;
        if (record.attempts > 1) s.retried++;
        if (record.outcome.result !== "ok") s.errors++;
        else if (record.served) s.servedBySite[record.served.site] = (s.servedBySite[record.served.site] ?? 0) + 1;
        try {
          await options.history.write(record);
        } catch (err) {
          writeFailure = err as Error;
          break;
        }
        const thinkMs = thinkMsMin + script.next() * (thinkMsMax - thinkMsMin);
        if (!stopped()) await sleep(clock, Math.min(thinkMs, Math.max(0, endAtMs - clock.monoMs())));
      }
    } finally {
      await agent.close();
    }
  };

  const totals = () => {
    let ops = 0;
    let errors = 0;
    for (const s of Object.values(byRegion)) {
      ops += s.ops;
      errors += s.errors;
    }
    return { ops, errors };
  };
  let lastOps = 0;
  let lastMs = startMs;
  const report = (): LoadProgress => {
    const now = clock.monoMs();
    const t = totals();
    const opsPerS = now > lastMs ? ((t.ops - lastOps) * 1_000) / (now - lastMs) : 0;
    lastOps = t.ops;
    lastMs = now;
    return { elapsedMs: now - startMs, ...t, opsPerS, byRegion: structuredClone(byRegion) };
  };
  let ticking = true;
  const tick = () => {
    if (!ticking) return;
    options.onProgress?.(report());
    clock.setTimer(progressIntervalMs, tick);
  };
  if (options.onProgress) clock.setTimer(progressIntervalMs, tick);
  // The system clock's timers do not hold the process open (unref'd, so a forgotten one
  // never keeps a server from exiting); a run in progress must, so this one does.
  const holdOpen = setInterval(() => {}, progressIntervalMs);
  try {
    await Promise.all(clients.flatMap((_, r) => Array.from({ length: options.usersPerRegion }, (_, u) => user(r, u))));
  } finally {
    ticking = false;
    clearInterval(holdOpen);
  }
  if (writeFailure) throw writeFailure;
  const t = totals();
  const elapsedMs = clock.monoMs() - startMs;
  return {
    elapsedMs,
    ...t,
    opsPerS: elapsedMs > 0 ? (t.ops * 1_000) / elapsedMs : 0,
    byRegion,
    users: clients.length * options.usersPerRegion,
    nextAddress: stats.nextAddress,
    dnsQueries: dnsClients.reduce((n, c) => n + c.queries, 0),
    dnsFailures: stats.dnsFailures,
    runId,
  };
}
