// `npm run bench:sun`: follow the sun over one simulated day, on real supervisors. Three sites
// at their real longitudes (New York, London, Singapore; the WAN direct, to spend the two
// cores on the supervisors and their instances), a planet `sun` section with a daytime
// demand curve and a clock running 720× (a day in 2 minutes), a light load of users in
// three regions resolving through the GSLB DNS. Every simulated hour it prints each site's
// local hour, the count the sun asks for and the instances running; at the end the
// instance-hours used (app instances running, starting and draining included: what one
// pays for), beside static peak provisioning for the same demand (each site's peak count
// all day), as a ratio, and the errors the users saw.
//   node bench/sun.ts [--clock-speed N] [--hours N] [--peak N] [--users N]
import { parseArgs } from "node:util";
import { dayMs, hourMs, localHour, realMsAt, type SiteStatus, simulatedUtcMs, siteSun } from "../src/cattle/index.ts";
import type { Launched } from "../src/core/index.ts";
import { startDnsUsers } from "../test/support/dns-users.ts";
import { cleanup, startSupervisor, status, waitStatus, writePlanet } from "../test/support/supervised.ts";

const { values } = parseArgs({
  options: {
    "clock-speed": { type: "string", default: "720" },
    hours: { type: "string", default: "24" },
    peak: { type: "string", default: "4" },
    users: { type: "string", default: "1" },
  },
});
const clockSpeed = Number(values["clock-speed"]);
const hours = Number(values.hours);
const peak = Number(values.peak);
const usersPerRegion = Number(values.users);
for (const [name, v] of [
  ["--clock-speed", clockSpeed],
  ["--hours", hours],
  ["--peak", peak],
  ["--users", usersPerRegion],
] as const) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
}

const sites = ["nyc", "lon", "sin"] as const;
const sampleMs = 200;
// Start the simulated day a little after the planet is up: warm-up takes about half a minute.
const warmupMsGuess = 20_000;
const startSim = simulatedUtcMs(Date.now() + warmupMsGuess, { clockSpeed, shiftHours: 0 });
const shiftHours = (((-startSim % dayMs) + dayMs) % dayMs) / hourMs;

const tp = writePlanet(
  "redshirt-bench-sun-",
  `name: sunbench
zone: sun.bench.
sites:
  - { name: nyc, city: New York, lat: 40.71, lon: -74.01, subnet: 127.237.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: lon, city: London, lat: 51.51, lon: -0.13, subnet: 127.238.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
  - { name: sin, city: Singapore, lat: 1.35, lon: 103.82, subnet: 127.239.0.0/16, tiers: { store: 1, app: 1, gateway: 1, dns: 1 } }
clients:
  - { name: us-east, cidr: 10.1.0.0/16, lat: 39.0, lon: -77.0 }
  - { name: europe, cidr: 10.3.0.0/16, lat: 50.11, lon: 8.68 }
  - { name: asia, cidr: 10.5.0.0/16, lat: 1.3, lon: 103.8 }
store: { partitions: 4, rf: 1, dataDir: data }
wan: { mode: direct }
sun:
  peakInstances: ${peak}
  minInstances: 1
  clockSpeed: ${clockSpeed}
  shiftHours: ${shiftHours.toFixed(6)}
  # A web shop's day: quiet at night, a morning climb, a lunchtime and evening peak.
  curve:
    - { hour: 0, share: 0.15 }
    - { hour: 5, share: 0.1 }
    - { hour: 8, share: 0.5 }
    - { hour: 12, share: 0.9 }
    - { hour: 14, share: 0.8 }
    - { hour: 19, share: 1.0 }
    - { hour: 22, share: 0.4 }
`,
);
const { planet } = tp;
const supervisors: Launched[] = [];
const siteOf = (host: string) => planet.gateways.find((g) => g.host === host)?.site ?? "?";
const say = (line: string) => process.stdout.write(`${line}\n`);

type HourRow = Record<string, { local: number; desired: number; running: number }>;

async function main(): Promise<void> {
  say(
    `bench:sun — ${sites.join(", ")} on real supervisors, sun clock ×${clockSpeed} (a simulated hour every ${(hourMs / clockSpeed / 1000).toFixed(1)} s), peak ${peak} app instances per site, WAN direct`,
  );
  const t0 = performance.now();
  for (const s of sites) supervisors.push(await startSupervisor(tp, s));
  for (const s of sites) {
    await waitStatus(tp, s, (x) => x.tiers.every((t) => t.ready === t.desired), 120_000, `${s} ready`);
    say(`  ${s} ready (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  const sun = siteSun(planet, planet.sites[0])!;
  // Measure from the next whole simulated hour.
  const firstHour = Math.ceil(simulatedUtcMs(Date.now(), sun) / hourMs) * hourMs;
  const startReal = realMsAt(firstHour, sun);
  await new Promise((r) => setTimeout(r, Math.max(0, startReal - Date.now())));
  const regions = [
    { ip: "10.1.0.0", prefix: 16 },
    { ip: "10.3.0.0", prefix: 16 },
    { ip: "10.5.0.0", prefix: 16 },
  ];
  const users = regions.map((ecs) =>
    startDnsUsers({
      dnsServers: planet.dnsServers.map((d) => ({ host: d.host, port: planet.ports.dns })),
      name: "www.sun.bench",
      gatewayPort: planet.ports.gateway,
      ecs,
      users: usersPerRegion,
      thinkMs: 100,
      siteOf,
    }),
  );
  const used: Record<string, number> = Object.fromEntries(sites.map((s) => [s, 0]));
  const demanded: Record<string, number> = Object.fromEntries(sites.map((s) => [s, 0]));
  const peakSeen: Record<string, number> = Object.fromEntries(sites.map((s) => [s, 0]));
  const bar = (n: number) => "█".repeat(n).padEnd(peak);
  const head = sites.map((s) => `${s.padEnd(4)} local want run ${"".padEnd(peak)}`).join(" │ ");
  say(`\n  UTC    │ ${head}`);
  const offsets = Object.fromEntries(planet.sites.map((x) => [x.name, siteSun(planet, x)!.utcOffsetHours]));
  let lastSample = Date.now();
  let lastStatus: Record<string, SiteStatus> = {};
  for (let h = 0; h < hours; h++) {
    const row: HourRow = {};
    const hourEndReal = realMsAt(firstHour + (h + 1) * hourMs, sun);
    while (Date.now() < hourEndReal) {
      const answers = await Promise.all(sites.map((s) => status(tp, s).catch(() => undefined)));
      const now = Date.now();
      const dtHours = ((now - lastSample) * clockSpeed) / hourMs;
      lastSample = now;
      answers.forEach((a, i) => {
        const s = sites[i];
        const st = a ?? lastStatus[s];
        if (!st) return;
        lastStatus = { ...lastStatus, [s]: st };
        const app = st.tiers.find((t) => t.tier === "app")!;
        const desired = st.sun?.instances ?? app.desired;
        used[s] += app.running * dtHours;
        demanded[s] += desired * dtHours;
        peakSeen[s] = Math.max(peakSeen[s], desired, app.running);
        // The row shows the hour's last sample: what ran by its end.
        row[s] = { local: st.sun?.localHour ?? 0, desired, running: app.running };
      });
      await new Promise((r) => setTimeout(r, sampleMs));
    }
    const utc = Math.floor(localHour(firstHour + h * hourMs, 0));
    const cells = sites
      .map((s) => {
        const c = row[s];
        const local = localHour(firstHour + h * hourMs, offsets[s]);
        const hhmm = `${String(Math.floor(local)).padStart(2, "0")}:${String(Math.floor((local % 1) * 60)).padStart(2, "0")}`;
        if (!c) return `${"".padEnd(4)} ${hhmm}    -   - ${"".padEnd(peak)}`;
        return `${"".padEnd(4)} ${hhmm} ${String(c.desired).padStart(4)} ${String(c.running).padStart(3)} ${bar(c.running)}`;
      })
      .join(" │ ");
    say(`  ${String(utc).padStart(2, "0")}:00  │ ${cells}`);
  }
  const results = await Promise.all(users.map((u) => u.stop()));
  const sent = results.reduce((n, r) => n + r.sent, 0);
  const errors = results.flatMap((r) => r.errors);
  const simHours = hours;
  const staticPeak = sites.reduce((n, s) => n + peakSeen[s] * simHours, 0);
  const usedTotal = sites.reduce((n, s) => n + used[s], 0);
  const demandedTotal = sites.reduce((n, s) => n + demanded[s], 0);
  say("");
  say("  site  instance-hours used  asked by the sun  static peak (peak × hours)  ratio used/static");
  for (const s of sites) {
    say(
      `  ${s.padEnd(4)}  ${used[s].toFixed(1).padStart(19)}  ${demanded[s].toFixed(1).padStart(16)}  ${(peakSeen[s] * simHours).toFixed(1).padStart(26)}  ${(used[s] / (peakSeen[s] * simHours)).toFixed(2).padStart(17)}`,
    );
  }
  say(
    `  all   ${usedTotal.toFixed(1).padStart(19)}  ${demandedTotal.toFixed(1).padStart(16)}  ${staticPeak.toFixed(1).padStart(26)}  ${(usedTotal / staticPeak).toFixed(2).padStart(17)}`,
  );
  say(
    `\n  follow the sun used ${(usedTotal / staticPeak).toFixed(2)}× the instance-hours of static peak provisioning (${usedTotal.toFixed(1)} vs ${staticPeak.toFixed(1)}) over ${simHours} simulated hours`,
  );
  say(
    `  users: ${sent} requests through DNS and the gateways, ${errors.length} errors${errors.length ? `: ${errors.slice(0, 5).join("; ")}` : ""}`,
  );
  say(`  took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  process.exitCode = errors.length === 0 ? 0 : 1;
}

try {
  await main();
} finally {
  await cleanup(tp, sites, supervisors);
}
