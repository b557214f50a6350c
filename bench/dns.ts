// `npm run bench:dns`: dnsperf against our GSLB DNS server and, in the same run, against
// PowerDNS Authoritative (pdns-server, bind backend, a LUA record doing the same job), with
// the same query file, the same duration and the same cores: each server pinned to one
// core, dnsperf to the other. Prints queries/s, average and p99 latency, and the ratio —
// for ours twice: with its response cache (what a repeated query costs) and without it
// (planet dns.responseCache: false: every query parsed, ranked and encoded), each beside
// the same PowerDNS run.
//
//   npm run bench:dns                 # 10 s per server: ours cached, PowerDNS, ours uncached
//   npm run bench:dns -- --seconds 30 --clients 8
//   npm run bench:dns -- --cache off  # only the uncached figure beside PowerDNS
//
// What both servers do for every A query: locate the client from EDNS Client Subnet
// (Europe, 10.3.0.0/24, for the whole run) through the planet's client networks, order the
// sites nearest first, and keep only sites whose gateways answer their health check.
// Differences, stated rather than hidden:
//  - pickclosest needs the GeoIP backend and a MaxMind city database (neither is installed,
//    and 10.x client networks are in no such database), so the LUA record maps client
//    networks to a site order with a netmask table built from the same planet distances.
//  - Both answer with the nearest healthy site's gateways only (PowerDNS: ifurlup over
//    per-site sets, the documented GSLB idiom, checking the same /_redshirt/healthz URL).
//  - PowerDNS runs with its defaults otherwise, packet cache included (its packet cache
//    does not serve these ECS-dependent answers). Ours runs with response-rate limiting
//    off (dnsperf floods from one address; PowerDNS has no RRL), with and without its
//    response cache.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Launched, launch, loadPlanetSecret, nodeBin, stopAll } from "../src/core/index.ts";
import { locateClient, type Planet, parseIpv4, parsePlanet, sitesByDistance } from "../src/topology/index.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "10" },
    clients: { type: "string", default: "4" },
    outstanding: { type: "string", default: "64" },
    // Per-query latencies (dnsperf -v) give the p99 but cost dnsperf a line per query.
    "no-p99": { type: "boolean", default: false },
    // Also measure PowerDNS answering a static A record: its ceiling on this core.
    "pdns-static": { type: "boolean", default: false },
    // Our response cache: on, off, or both (two runs of ours, each beside PowerDNS's).
    cache: { type: "string", default: "both" },
  },
});
const seconds = Number(values.seconds);
const clients = Number(values.clients);
const outstanding = Number(values.outstanding);
if (!["on", "off", "both"].includes(values.cache)) throw new Error("--cache must be on, off or both");
const cacheModes: boolean[] = values.cache === "both" ? [true, false] : [values.cache === "on"];

const subnetBase = 126;
const dnsPort = 15353;
const pdnsHost = "127.129.0.53";
const pdnsPort = 15400;
const gatewayPort = 18080;
const zone = "gslb.test";
const ecsSubnet = "10.3.0.0/24";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function planetYaml(responseCache = true): string {
  const site = (name: string, city: string, lat: number, lon: number, i: number, dns: number): string =>
    `  - { name: ${name}, city: ${city}, lat: ${lat}, lon: ${lon}, subnet: 127.${subnetBase + i}.0.0/16, tiers: { store: 3, gateway: 2, dns: ${dns}, app: 0 } }\n`;
  return (
    `name: bench\nzone: ${zone}.\nservices: [www, shop]\nsites:\n` +
    site("nyc", "New York", 40.7128, -74.006, 0, 0) +
    site("lon", "London", 51.5074, -0.1278, 1, 1) +
    site("sin", "Singapore", 1.3521, 103.8198, 2, 0) +
    "clients:\n" +
    "  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0 }\n" +
    "  - { name: us-west, cidr: 10.2.0.0/16, lat: 37.77, lon: -122.42 }\n" +
    "  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68 }\n" +
    "  - { name: india, cidr: 10.4.0.0/16, lat: 19.07, lon: 72.88 }\n" +
    "  - { name: asia-east, cidr: 10.5.0.0/16, lat: 35.68, lon: 139.69 }\n" +
    `dns: { ttlS: 5, rrl: { responsesPerS: 0 }, responseCache: ${responseCache} }\n` +
    `ports: { dns: ${dnsPort}, gateway: ${gatewayPort} }\nwan: { mode: direct }\n`
  );
}

/** The PowerDNS zone: the same names, and a LUA record per service doing the GSLB job. */
function pdnsZone(planet: Planet): string {
  const q = (s: string): string => `'${s}'`;
  const siteIndex = new Map(planet.sites.map((s, i) => [s.name, i + 1]));
  const sets = planet.sites.map(
    (s) =>
      `{${planet.gateways
        .filter((g) => g.site === s.name)
        .map((g) => q(g.host))
        .join(",")}}`,
  );
  // Most specific networks first, each with its site order by distance (as ours computes it).
  const networks = [
    ...planet.clients.map((c) => ({ cidr: c.cidr, at: c })),
    ...planet.sites.map((s) => ({ cidr: s.subnetCidr.text, at: s })),
  ].sort((a, b) => Number(b.cidr.split("/")[1]) - Number(a.cidr.split("/")[1]));
  const nets = networks.map(
    (n) =>
      `{${q(n.cidr)},{${sitesByDistance(planet, n.at)
        .map((s) => siteIndex.get(s.name))
        .join(",")}}}`,
  );
  const lua =
    `;local sites={${sets.join(",")}} local nets={${nets.join(",")}} ` +
    `local pick={${planet.sites.map((_, i) => i + 1).join(",")}} ` +
    "for _,n in ipairs(nets) do if newNMG({n[1]}):match(bestwho) then pick=n[2] break end end " +
    "local ordered={} for _,i in ipairs(pick) do table.insert(ordered,sites[i]) end " +
    `return ifurlup('http://www.${zone}:${gatewayPort}/_redshirt/healthz',ordered,{selector='all',backupSelector='all'})`;
  const lines = [
    `$ORIGIN ${zone}.`,
    `@ ${planet.dns.ttlS} IN SOA ns1.${zone}. hostmaster.${zone}. 1 3600 600 86400 ${planet.dns.ttlS}`,
    `@ 300 IN NS ns1.${zone}.`,
    `ns1 300 IN A ${pdnsHost}`,
    ...planet.services.map((s) => `${s} ${planet.dns.ttlS} IN LUA A "${lua}"`),
    // For --pdns-static: the answer for Europe as plain records, PowerDNS's ceiling.
    ...planet.gateways.filter((g) => g.site === "lon").map((g) => `static ${planet.dns.ttlS} IN A ${g.host}`),
  ];
  return `${lines.join("\n")}\n`;
}

function pin(core: number, command: string, args: string[]): { command: string; args: string[] } {
  // Pin when the machine has the cores; otherwise run unpinned and say so.
  if (availableParallelism() < 2) return { command, args };
  return { command: "taskset", args: ["-c", String(core), command, ...args] };
}

type Result = { qps: number; avgMs: number; p99Ms: number; lost: number; completed: number; rcodes: string };

async function runDnsperf(label: string, host: string, port: number, queryFile: string): Promise<Result> {
  const ecsHex = (() => {
    const [addr, len] = ecsSubnet.split("/");
    const bytes = Math.ceil(Number(len) / 8);
    const ip = parseIpv4(addr)!;
    const a = [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].slice(0, bytes);
    return `0001${Number(len).toString(16).padStart(2, "0")}00${a.map((b) => b.toString(16).padStart(2, "0")).join("")}`;
  })();
  const { command, args } = pin(0, "dnsperf", [
    ...["-s", host, "-p", String(port), "-d", queryFile, "-l", String(seconds)],
    ...["-c", String(clients), "-q", String(outstanding), "-t", "2", "-e", "-E", `8:${ecsHex}`, "-S", "1"],
    ...(values["no-p99"] ? [] : ["-v"]),
  ]);
  const latenciesMs: number[] = [];
  const summary: string[] = [];
  say(`${label}: dnsperf for ${seconds} s (${clients} clients, ${outstanding} outstanding, ECS ${ecsSubnet})…`);
  const p = await launch({
    name: `dnsperf ${label}`,
    command,
    args,
    isReady: (line) => line.includes("Sending queries"),
    readyTimeoutMs: 10_000,
    onLine: (line) => {
      // "> NOERROR www.gslb.test A 0.000123": one line per answered query.
      if (line.startsWith("> ")) {
        const latencyS = Number(line.slice(line.lastIndexOf(" ") + 1));
        if (Number.isFinite(latencyS)) latenciesMs.push(latencyS * 1000);
        return;
      }
      if (/^\d+\.\d+: [\d.]+$/.test(line.trim()))
        say(`  ${label}: ${Math.round(Number(line.trim().split(": ")[1]))} q/s`);
      else summary.push(line);
    },
  });
  const { code } = await p.exited;
  if (code !== 0) throw new Error(`dnsperf ${label} exited with ${code}:\n${p.tail()}`);
  const text = summary.join("\n");
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? Number.NaN);
  latenciesMs.sort((a, b) => a - b);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    p99Ms:
      latenciesMs.length > 0
        ? latenciesMs[Math.min(latenciesMs.length - 1, Math.floor(latenciesMs.length * 0.99))]
        : Number.NaN,
    lost: num(/Queries lost:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    rcodes: /Response codes:\s+(.*)/.exec(text)?.[1]?.trim() ?? "",
  };
}

function firstSiteOf(planet: Planet, host: string, port: number): string {
  const out = execFileSync(
    "dig",
    [`@${host}`, "-p", String(port), `www.${zone}`, `+subnet=${ecsSubnet}`, "+short", "+time=1", "+tries=2"],
    {
      encoding: "utf8",
    },
  );
  const first = out.split("\n").find((l) => /^\d/.test(l));
  return planet.gateways.find((g) => g.host === first)?.site ?? `none (${out.trim()})`;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "rs-bench-dns-"));
  const processes: Launched[] = [];
  try {
    const planetFile = (cached: boolean): string => join(dir, cached ? "planet.yaml" : "planet-uncached.yaml");
    writeFileSync(planetFile(true), planetYaml(true));
    writeFileSync(planetFile(false), planetYaml(false));
    const planet = parsePlanet(planetYaml());
    // The DNS server reads the planet secret (its weight writes need the control token).
    loadPlanetSecret(join(dir, planet.store.dataDir), { create: true });
    const self = planet.dnsServers[0];
    writeFileSync(join(dir, "named.conf"), `zone "${zone}" { type master; file "${join(dir, `${zone}.zone`)}"; };\n`);
    writeFileSync(join(dir, `${zone}.zone`), pdnsZone(planet));
    // A mix an authoritative GSLB server sees: mostly A for service names, some AAAA
    // (NODATA) and misses (NXDOMAIN).
    const mix = (a: string, b: string): string =>
      `${[`${a}.${zone} A`, `${b}.${zone} A`, `${a}.${zone} A`, `${b}.${zone} A`, `${a}.${zone} A`, `${a}.${zone} AAAA`, `nope.${zone} A`, `${a}.${zone} A`].join("\n")}\n`;
    const queryFile = join(dir, "queries.txt");
    writeFileSync(queryFile, mix("www", "shop"));
    const staticFile = join(dir, "queries-static.txt");
    writeFileSync(staticFile, mix("static", "static"));
    say(
      `bench:dns — planet ${planet.sites.map((s) => s.name).join(", ")}, our server ${self.host}:${dnsPort}, PowerDNS ${pdnsHost}:${pdnsPort}`,
    );
    for (const site of planet.sites) {
      const listen = planet.gateways.filter((g) => g.site === site.name).map((g) => `${g.host}:${g.port}`);
      processes.push(
        await launch({
          name: `gateways-${site.name}`,
          command: nodeBin,
          args: ["test/support/healthz-server.ts", "--listen", listen.join(",")],
        }),
      );
    }
    const pdnsArgs = [
      ...[
        `--config-dir=${dir}`,
        `--socket-dir=${dir}`,
        "--daemon=no",
        "--guardian=no",
        "--disable-syslog",
        "--write-pid=no",
      ],
      ...[
        `--local-address=${pdnsHost}`,
        `--local-port=${pdnsPort}`,
        "--launch=bind",
        `--bind-config=${join(dir, "named.conf")}`,
      ],
      ...[
        "--enable-lua-records=yes",
        "--edns-subnet-processing=yes",
        "--lua-health-checks-interval=1",
        "--lua-records-exec-limit=100000",
      ],
      "--loglevel=4",
    ];
    const pdns = pin(1, "/usr/sbin/pdns_server", pdnsArgs);
    processes.push(
      await launch({
        name: "pdns_server",
        command: "sh",
        args: ["-c", `exec ${[pdns.command, ...pdns.args].map((a) => `'${a}'`).join(" ")} 2>&1`],
        isReady: (line) => line.includes("ready to distribute questions"),
      }),
    );
    // PowerDNS treats every address as down until its first checks ran (they start with the
    // first query): ask once, then wait for a check round, and make sure both agree.
    firstSiteOf(planet, pdnsHost, pdnsPort);
    await new Promise((r) => setTimeout(r, 2500));
    const expected = sitesByDistance(planet, locateClient(planet, "10.3.0.1")!.at)[0].name;
    const pdnsFirst = firstSiteOf(planet, pdnsHost, pdnsPort);
    /** Starts our server with the cache on or off, checks it does PowerDNS's job, measures it, stops it. */
    const measureOurs = async (cached: boolean): Promise<Result> => {
      const ours = pin(1, nodeBin, [
        ...["src/cli/main.ts", "dns", "--planet", planetFile(cached)],
        ...["--site", self.site, "--index", String(self.index)],
      ]);
      const p = await launch({
        name: `redshirt dns (cache ${cached ? "on" : "off"})`,
        command: ours.command,
        args: ours.args,
        env: { ...process.env, REDSHIRT_LOG_LEVEL: "warn" },
      });
      processes.push(p);
      try {
        const oursFirst = firstSiteOf(planet, self.host, dnsPort);
        say(`first site for ${ecsSubnet}: expected ${expected}, ours ${oursFirst}, PowerDNS ${pdnsFirst}`);
        if (oursFirst !== expected || pdnsFirst !== expected)
          throw new Error("the servers do not do the same job; not benchmarking");
        return await runDnsperf(`redshirt (cache ${cached ? "on" : "off"})`, self.host, dnsPort, queryFile);
      } finally {
        await p.stop();
      }
    };
    // Ours and PowerDNS interleaved, so a change in the machine's load hits both.
    const ourResults: [boolean, Result][] = [];
    ourResults.push([cacheModes[0], await measureOurs(cacheModes[0])]);
    const b = await runDnsperf("PowerDNS", pdnsHost, pdnsPort, queryFile);
    for (const cached of cacheModes.slice(1)) ourResults.push([cached, await measureOurs(cached)]);
    const c = values["pdns-static"] ? await runDnsperf("PowerDNS static", pdnsHost, pdnsPort, staticFile) : undefined;
    const row = (name: string, r: Result): string =>
      `${name.padEnd(22)} ${r.qps.toFixed(0).padStart(9)} q/s   avg ${r.avgMs.toFixed(3)} ms   p99 ${r.p99Ms.toFixed(3)} ms   lost ${r.lost}/${r.completed + r.lost}   ${r.rcodes}`;
    say("");
    say(`results (${seconds} s each, dnsperf -c ${clients} -q ${outstanding}, servers pinned to one core):`);
    for (const [cached, a] of ourResults) say(row(`redshirt, cache ${cached ? "on" : "off"}`, a));
    say(row("PowerDNS", b));
    if (c) say(`${row("PowerDNS static A", c)}   (plain records, no LUA: PowerDNS's ceiling)`);
    for (const [cached, a] of ourResults) {
      say(
        `ratio redshirt (cache ${cached ? "on" : "off"})/PowerDNS: ${(a.qps / b.qps).toFixed(2)}× queries/s, p99 ${(a.p99Ms / b.p99Ms).toFixed(2)}×`,
      );
    }
  } finally {
    await stopAll(processes);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
