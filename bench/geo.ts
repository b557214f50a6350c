// `npm run bench:geo`: the store's `global` writes across the emulated WAN of the demo
// planet's geometry (New York, London, Singapore; route stretch 1.5), on a temp planet with
// its own 127.220–127.222 blocks so it never meets a running `npm start` or the tests:
//   - the three sites' link processes (`redshirt wan`) and 3 store nodes per site, each its
//     own process; store peers dial each other through the links (dialAddress);
//   - from a client in each site, `global` writes to its own site's nodes (all sites at
//     once, a few in flight), p50/p99 per site beside the physical floor: the RTT to the
//     nearest other site (src/topology);
//   - WAN bytes per write, from the link processes' byte counters (less the idle rate
//     measured first: anti-entropy and heartbeats);
//   - beside it, etcd 3.4 (Debian's etcd-server): 3 members, one per site, whose peer traffic
//     crosses the same link processes (bench/support/etcd-geo.ts says how), tuned for the
//     WAN as its guide says (heartbeat ≈ the largest RTT, election timeout 10 × that); puts
//     from a client in each site to its own site's member, the same load, p50/p99, and the
//     ratio of each to the floor;
//   - the write stall in the surviving sites when every process of Singapore (ours and etcd's
//     member, which holds the leadership by then: etcd's worst case) is SIGKILLed: the longest
//     gap between successful writes there, over the seconds after the kill.
// Every process is stopped and the nftables table removed on exit, on failure and on SIGINT/SIGTERM.
// etcd is skipped, saying why, where it cannot run (not root, no etcd, no nft).
//   node bench/geo.ts [--seconds S] [--writes N] [--inflight N] [--rounds N] [--after-kill S]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Pool } from "undici";
import { type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { loadPlanet, type Planet, siteRttMs } from "../src/topology/index.ts";
import { WanAdminClient } from "../src/wan/index.ts";
import {
  EtcdSiteClient,
  etcdLeaderSite,
  etcdMembers,
  etcdTable,
  etcdTiming,
  etcdUnavailable,
  installSteering,
  moveLeader,
  removeSteering,
  startEtcd,
} from "./support/etcd-geo.ts";
import {
  gapText,
  longestGap,
  measureRound,
  newTally,
  probeLoop,
  type SiteResult,
  type Stall,
  summarize,
  type Writer,
  wanBytes,
  writeLoop,
} from "./support/geo-measure.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    writes: { type: "string", default: "300" },
    inflight: { type: "string", default: "4" },
    rounds: { type: "string", default: "2" },
    "after-kill": { type: "string", default: "15" },
  },
});
const durationS = Number(values.seconds);
const writesMax = Number(values.writes);
const inflight = Number(values.inflight);
const afterKillS = Number(values["after-kill"]);
const rounds = Number(values.rounds);
if (
  !(durationS > 0 && writesMax > 0 && inflight > 0 && inflight <= 64 && afterKillS > 0) ||
  !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 10)
) {
  console.error("bench: --seconds, --writes, --after-kill must be positive, --inflight 1..64, --rounds 1..10");
  process.exit(2);
}
const requestTimeoutMs = 20_000;
/** Site loss: besides the closed loops, each survivor starts a new write this often, on connections of its own. */
const probeEveryMs = 100;
const probeOutstandingMax = 256;
const value = "x".repeat(100);
const cliMain = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

// The demo planet's geometry and WAN (examples/planet.yaml), in blocks of our own.
const planetYaml = `name: benchgeo
zone: benchgeo.test.
sites:
  - { name: nyc, city: New York, lat: 40.7128, lon: -74.0060, subnet: 127.220.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
  - { name: lon, city: London, lat: 51.5074, lon: -0.1278, subnet: 127.221.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
  - { name: sin, city: Singapore, lat: 1.3521, lon: 103.8198, subnet: 127.222.0.0/16, tiers: { store: 3, gateway: 1, dns: 0, app: 0 } }
store: { partitions: 64, rf: 3, consistency: local-quorum, dataDir: data }
wan: { mode: emulated, routeStretch: 1.5, fiberKmPerMs: 200, jitterMs: 1, bandwidthMbps: 200, lossPct: 0 }
`;

function log(line: string): void {
  console.log(`bench: ${line}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "redshirt-bench-geo-"));
const processes = new Map<string, Launched>();
const pools: Pool[] = [];
let cleaning: Promise<void> | undefined;
let steered = false;
const etcdClients: EtcdSiteClient[] = [];

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.allSettled([...pools.map((p) => p.destroy()), ...etcdClients.map((c) => c.close())]);
    await stopAll(processes.values(), 2_000);
    processes.clear();
    if (steered) removeSteering();
    rmSync(dir, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping every process`);
    void cleanup().finally(() => process.exit(130));
  });
}

async function start(name: string, args: string[]): Promise<void> {
  const p = await launch({
    name,
    command: nodeBin,
    args: [cliMain, ...args],
    env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
    // A loaded shared machine can take a while to start 12 Node processes at once.
    readyTimeoutMs: 60_000,
  });
  processes.set(name, p);
}

/** A client in `site`: one pool per local node, writes spread over them. */
function siteClient(planet: Planet, site: string, connections = inflight) {
  const nodes = planet.storeNodes.filter((n) => n.site === site);
  const sitePools = nodes.map((n) => new Pool(`http://${n.host}:${n.port}`, { connections, pipelining: 1 }));
  pools.push(...sitePools);
  let seq = 0;
  return async (tag: string): Promise<void> => {
    const i = seq++;
    const key = `geo/${tag}/${site}/${i}`;
    const res = await sitePools[i % sitePools.length].request({
      method: "PUT",
      path: `/v1/kv/${encodeURIComponent(key)}?consistency=global`,
      headers: { "content-type": "application/json", "idempotency-key": `${tag}-${site}-${i}` },
      body: JSON.stringify({ value }),
      headersTimeout: requestTimeoutMs,
      bodyTimeout: requestTimeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 201 && res.statusCode !== 204) {
      throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    }
  };
}

const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

async function main(): Promise<void> {
  const planetFile = join(dir, "planet.yaml");
  writeFileSync(planetFile, planetYaml);
  const planet = loadPlanet(planetFile);
  const secret = loadPlanetSecret(join(dir, "data"), { create: true });
  const sites = planet.sites.map((s) => s.name);
  const admin = new WanAdminClient({ planet, secret });

  log(`planet: ${planet.sites.map((s) => `${s.name} (${s.city}, ${s.subnetCidr.text})`).join(", ")}`);
  let maxRttMs = 0;
  for (const [a, b] of [
    ["nyc", "lon"],
    ["nyc", "sin"],
    ["lon", "sin"],
  ]) {
    maxRttMs = Math.max(maxRttMs, siteRttMs(planet, a, b));
    log(`  RTT ${a}<->${b}: ${siteRttMs(planet, a, b).toFixed(1)} ms`);
  }
  log("starting the three sites' link processes…");
  await Promise.all(sites.map((s) => start(`wan ${s}`, ["wan", "--planet", planetFile, "--site", s])));
  log("starting 9 store nodes (3 per site)…");
  await Promise.all(
    planet.storeNodes.map((n) => start(`store ${n.id}`, ["store", "--planet", planetFile, "--node", n.id])),
  );
  const ours = new Map<string, Writer>(sites.map((s) => [s, siteClient(planet, s)]));

  const noEtcd = etcdUnavailable();
  const etcd = new Map<string, EtcdSiteClient>();
  const timing = etcdTiming(maxRttMs);
  if (noEtcd) log(`etcd: not run beside us: ${noEtcd}`);
  else {
    const members = etcdMembers(planet);
    log(
      `etcd: 3 members (${members.map((m) => `${m.site} ${m.peerUrl}`).join(", ")}), peer traffic steered into the same links (nft table ${etcdTable})`,
    );
    installSteering(planet, members);
    steered = true;
    log(
      `etcd: heartbeat ${timing.heartbeatMs} ms, election timeout ${timing.electionMs} ms (its WAN tuning: RTT, 10 × RTT)`,
    );
    for (const [site, p] of await startEtcd(dir, members, timing)) processes.set(`etcd ${site}`, p);
    for (const m of members) etcd.set(m.site, new EtcdSiteClient(m, inflight));
    etcdClients.push(...etcd.values());
  }
  const etcdWriters = new Map<string, Writer>(
    [...etcd.entries()].map(([s, c]) => [s, (tag: string) => c.put(tag, value, requestTimeoutMs)]),
  );

  log("warming up: 10 writes per site (connections, handshakes across the links)…");
  for (let i = 0; i < 10; i++) {
    await Promise.all([...sites.map((s) => ours.get(s)!("warm")), ...[...etcdWriters.values()].map((w) => w("warm"))]);
  }

  const idleS = 3;
  log(`measuring the links' idle traffic for ${idleS} s (anti-entropy, heartbeats${etcd.size ? ", etcd's too" : ""})…`);
  const idle0 = await wanBytes(admin, sites);
  await sleep(idleS * 1000);
  const idleBytesPerS = ((await wanBytes(admin, sites)) - idle0) / idleS;
  log(`  idle: ${(idleBytesPerS / 1000).toFixed(1)} kB/s over all links`);

  // The two systems take turns (ours, etcd, etcd, ours, …), so a change in the shared machine's
  // load falls on both alike; each round gets 1/rounds of the time and writes.
  const measureCtx = { inflight, log };
  const ourTally = newTally("ours (global)", sites);
  let etcdLeader = "";
  const etcdTally = newTally("etcd", sites);
  for (let r = 0; r < rounds; r++) {
    const round = {
      seconds: durationS / rounds,
      writesCap: Math.ceil(writesMax / rounds),
      name: `round ${r + 1}/${rounds}`,
    };
    const turns = [
      () => measureRound(measureCtx, ourTally, planet, ours, admin, idleBytesPerS, round),
      ...(etcd.size > 0
        ? [() => measureRound(measureCtx, etcdTally, planet, etcdWriters, admin, idleBytesPerS, round)]
        : []),
    ];
    if (r % 2 === 1) turns.reverse();
    if (etcd.size > 0) {
      etcdLeader = await etcdLeaderSite(etcd);
      log(`etcd: the leader is in ${etcdLeader}`);
    }
    for (const turn of turns) await turn();
  }
  const ourRun = summarize(measureCtx, ourTally, planet);
  const etcdRun = etcd.size > 0 ? summarize(measureCtx, etcdTally, planet) : undefined;

  // Site loss: writers in the survivors (ours and etcd's), then every process of Singapore SIGKILLed.
  const victim = "sin";
  const survivors = sites.filter((s) => s !== victim);
  if (etcd.size > 0) {
    log(`etcd: moving the leadership to ${victim}, so losing ${victim} costs etcd an election (its worst case)`);
    await moveLeader(etcd, victim);
  }
  const beforeKillS = 3;
  log(`site loss: writes in ${survivors.join(", ")}; SIGKILL every process of ${victim} after ${beforeKillS} s`);
  let stop = false;
  const oursProbe = new Map<string, Writer>(survivors.map((s) => [s, siteClient(planet, s, probeOutstandingMax)]));
  const etcdProbe = new Map<string, Writer>();
  if (etcd.size > 0) {
    for (const m of etcdMembers(planet).filter((x) => survivors.includes(x.site))) {
      const c = new EtcdSiteClient(m, probeOutstandingMax);
      etcdClients.push(c);
      etcdProbe.set(m.site, (tag) => c.put(tag, value, requestTimeoutMs));
    }
  }
  const systems = [
    { name: "ours", writers: ours, probes: oursProbe },
    ...(etcd.size > 0 ? [{ name: "etcd", writers: etcdWriters, probes: etcdProbe }] : []),
  ].map((x) => ({
    ...x,
    okTimes: new Map(survivors.map((s) => [s, [] as number[]])),
    probeTimes: new Map(survivors.map((s) => [s, [] as number[]])),
    probeFailures: new Map(survivors.map((s) => [s, 0])),
    failures: new Map(survivors.map((s) => [s, 0])),
    firstError: new Map<string, string>(),
  }));
  const loops = systems.flatMap((sys) =>
    survivors.map((site) =>
      writeLoop(
        inflight,
        () => sys.writers.get(site)!("loss"),
        () => stop,
        (ok, ms, err) => {
          if (ok) sys.okTimes.get(site)!.push(performance.now());
          else {
            sys.failures.set(site, sys.failures.get(site)! + 1);
            if (!sys.firstError.has(site))
              sys.firstError.set(site, `${(err as Error).message} (after ${ms.toFixed(0)} ms)`);
          }
        },
      ),
    ),
  );
  const probes = systems.flatMap((sys) =>
    survivors.map((site) =>
      probeLoop(
        { everyMs: probeEveryMs, outstandingMax: probeOutstandingMax },
        () => sys.probes.get(site)!("probe"),
        () => stop,
        (ok, at) => {
          if (ok) sys.probeTimes.get(site)!.push(at);
          else sys.probeFailures.set(site, sys.probeFailures.get(site)! + 1);
        },
      ),
    ),
  );
  await sleep(beforeKillS * 1000);
  const victims = [...processes.entries()].filter(
    ([name]) => name === `wan ${victim}` || name.startsWith(`store ${victim}`) || name === `etcd ${victim}`,
  );
  const killedAt = performance.now();
  for (const [, p] of victims) p.kill("SIGKILL");
  await Promise.all(victims.map(([, p]) => p.exited));
  for (const [name] of victims) processes.delete(name);
  log(`  killed ${victims.map(([n]) => n).join(", ")}; writing for ${afterKillS} s more`);
  await sleep(afterKillS * 1000);
  stop = true;
  await Promise.all([...loops, ...probes]);
  const endAt = killedAt + afterKillS * 1000;
  const stalls = new Map<string, Stall[]>();
  for (const sys of systems) {
    const rows = survivors.map((site) => {
      const g = longestGap(sys.okTimes.get(site)!, killedAt, endAt);
      const failed = sys.failures.get(site)!;
      const first = sys.firstError.get(site);
      const probe = longestGap(sys.probeTimes.get(site)!, killedAt, endAt);
      log(
        `  ${sys.name} ${site}: ${g.after} writes after the kill, ${failed} failed${first ? ` (first: ${first})` : ""}, longest gap ${gapText(g)}; new writes every ${probeEveryMs} ms: ${probe.after} ok, ${sys.probeFailures.get(site)} failed, longest gap ${gapText(probe)}`,
      );
      return { site, ...g, failed, probe };
    });
    stalls.set(sys.name, rows);
  }

  console.log("");
  console.log(
    `writes from every site, ${inflight} in flight per site, demo geometry (route stretch ${planet.wan.routeStretch}, ${planet.wan.bandwidthMbps} Mbit/s links); ours: \`global\`, etcd 3.4: put (linearizable, Raft${etcdLeader ? `, leader in ${etcdLeader}` : ""})`,
  );
  console.log(
    "site   floor (RTT to nearest)   ours p50 (×floor)    ours p99   etcd p50 (×floor)    etcd p99   etcd/ours p50",
  );
  for (const [i, r] of ourRun.results.entries()) {
    const e = etcdRun?.results[i];
    console.log(
      `${r.site.padEnd(6)} ${fmt(r.floorMs).padStart(23)} ${`${fmt(r.p50Ms)} (${ratio(r.p50Ms, r.floorMs)})`.padStart(19)} ${fmt(r.p99Ms).padStart(11)} ${(e ? `${fmt(e.p50Ms)} (${ratio(e.p50Ms, e.floorMs)})` : "-").padStart(19)} ${(e ? fmt(e.p99Ms) : "-").padStart(11)} ${(e ? ratio(e.p50Ms, r.p50Ms) : "-").padStart(15)}`,
    );
  }
  const errs = (rs: readonly SiteResult[]) => rs.map((r) => `${r.site} ${r.ok}/${r.errors}`).join(", ");
  console.log(`writes ok/errors: ours ${errs(ourRun.results)}${etcdRun ? `; etcd ${errs(etcdRun.results)}` : ""}`);
  console.log(
    `WAN bytes per write (all links, both directions, idle rate subtracted): ours ${ourRun.bytesPerWrite.toFixed(0)}${etcdRun ? `, etcd ${etcdRun.bytesPerWrite.toFixed(0)}` : ""}`,
  );
  for (const [name, rows] of stalls) {
    const extra = name === "etcd" ? ` (leader in ${victim}; election timeout ${timing.electionMs} ms)` : "";
    console.log(
      `write stall in the survivors when ${victim} is SIGKILLed, ${name}${extra}: ${rows.map((s) => `${s.site} ${gapText(s)} with ${inflight} in flight (${s.failed} failed), ${gapText(s.probe)} for new writes`).join("; ")}`,
    );
  }
  if (noEtcd) console.log(`etcd: not measured: ${noEtcd}`);
  console.log(
    `load average at the end: ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} (shared cores: compare figures of one run only)`,
  );
}

try {
  await main();
} catch (err) {
  console.error(`bench: failed: ${(err as Error).stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
process.exit(process.exitCode ?? 0);
