// Production wiring of `redshirt supervise --planet F --site S`: the system clock and
// randomness, the real OS (detached processes, /proc), HTTP/DNS readiness probes, the drain
// gate on the site's store, the state file, and the control API on the site's supervisor
// address. Prints one ready line once it serves. SIGTERM/SIGINT end the supervisor and
// leave its instances running (a restarted supervisor adopts them); POST /v1/stop stops
// everything first.

import { existsSync, rmSync } from "node:fs";
import { request } from "undici";
import {
  controlBearerToken,
  createLogger,
  loadPlanetSecret,
  nodeBin,
  systemClock,
  systemRandom,
} from "../../core/index.ts";
import { createStoreClient, storeDataFile } from "../../store/index.ts";
import { type Planet, siteByName } from "../../topology/index.ts";
import {
  controlApiVersion,
  type DeployResult,
  type EvacuationResult,
  parseDeploy,
  parseSunRequest,
  parseTier,
  type StopResult,
  type SunResult,
} from "../control/api.ts";
import { controlErrors } from "../control/errors.ts";
import { type FaultAnswer, type FaultsAnswer, type HealAnswer, parseFaultRequest } from "../control/fault-api.ts";
import { ControlServer } from "../control/server.ts";
import { dnsSteering } from "../sun/steering.ts";
import { probeTimeoutMs, readyTimeoutMsDefault } from "./constants.ts";
import { StoreDrainGate } from "./drain.ts";
import { supervisorErrors } from "./errors.ts";
import { faultsFilePath, loadFaults, saveFaultsFile } from "./faults.ts";
import { systemHost } from "./host.ts";
import { supervisorPidFile, takeSupervisorLock } from "./lock.ts";
import { SupervisorMetrics } from "./metrics.ts";
import { ownerTagOf, planetDataDir, supervisorDir } from "./paths.ts";
import { readinessProber } from "./probes.ts";
import { loadState, saveState, stateFilePath } from "./state-file.ts";
import { Supervisor } from "./supervisor.ts";
import { type AppSpec, appEntryDefault, appReadyPathDefault, appVersionDefault } from "./tiers.ts";

export type RunSupervisorOptions = {
  readonly planet: Planet;
  readonly planetFile: string;
  readonly site: string;
  readonly app?: Partial<AppSpec>;
  readonly readyTimeoutMs?: number;
  readonly stopGraceMs?: number;
  readonly drainWaitMs?: number;
};

export async function runSupervisor(o: RunSupervisorOptions): Promise<number> {
  const site = siteByName(o.planet, o.site);
  if (!site) {
    throw supervisorErrors.create(
      "RS_ERR_CATTLE_SUPERVISOR_UNKNOWN_SITE",
      `--site ${JSON.stringify(o.site)} (sites: ${o.planet.sites.map((s) => s.name).join(", ")})`,
    );
  }
  const self = o.planet.supervisors.find((s) => s.site === site.name);
  if (!self) throw supervisorErrors.create("RS_ERR_CATTLE_SUPERVISOR_UNKNOWN_SITE", site.name);
  const dataDir = planetDataDir(o.planet);
  const dir = supervisorDir(dataDir, site.name);
  const log = createLogger({ part: "cattle", role: "supervisor", site: site.name });
  const secret = loadPlanetSecret(dataDir);
  const release = takeSupervisorLock(supervisorPidFile(dir));
  const metrics = new SupervisorMetrics();
  const clock = systemClock;
  const ownerTag = ownerTagOf(dataDir, site.name);
  const app: AppSpec = {
    entry: o.app?.entry ?? appEntryDefault,
    version: o.app?.version ?? appVersionDefault,
    readyPath: o.app?.readyPath ?? appReadyPathDefault,
  };
  const store = createStoreClient({ planet: o.planet, site: site.name });
  const stateFile = stateFilePath(dir);
  const supervisor = new Supervisor(
    {
      planet: o.planet,
      site,
      planetFile: o.planetFile,
      dir,
      ownerTag,
      nodeBin,
      app,
      address: `${self.host}:${self.port}`,
      pid: process.pid,
      readyTimeoutMs: o.readyTimeoutMs ?? readyTimeoutMsDefault,
      stopGraceMs: o.stopGraceMs,
      drainWaitMs: o.drainWaitMs,
    },
    {
      clock,
      random: systemRandom,
      log,
      host: systemHost(clock, ownerTag),
      probe: readinessProber({
        appReadyPath: app.readyPath,
        dnsName: `${o.planet.services[0]}.${o.planet.zone}`,
        timeoutMs: probeTimeoutMs,
      }),
      drain: new StoreDrainGate(site.name, store, log, metrics),
      metrics,
      load: () => loadState(stateFile),
      save: (state) => saveState(stateFile, state),
      steering: dnsSteering({ planet: o.planet, site: site.name, secret, log, metrics }),
      faults: {
        load: () => loadFaults(faultsFilePath(dir)),
        save: (text) => saveFaultsFile(faultsFilePath(dir), text),
        skewClock: (nodeId, offsetMs, ttlMs, faultId) =>
          skewStoreClock(o.planet, secret, nodeId, { offsetMs, ttlMs, faultId }),
        wipeDisk: (nodeId) => {
          const file = storeDataFile(o.planet, nodeId);
          for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
        },
      },
    },
  );
  const faults = supervisor.faults;
  if (!faults) throw new Error("the supervisor was built without its fault keeper");

  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  let stopping = false;
  const server = new ControlServer({
    host: self.host,
    port: self.port,
    secret,
    log,
    metrics,
    handlers: {
      status: async () => ({ status: 200, body: supervisor.status() }),
      scale: async ({ params, body }) => {
        const tier = parseTier(params.tier ?? "");
        const count = (body as { count?: unknown } | undefined)?.count;
        return { status: 200, body: { api: controlApiVersion, tier: supervisor.scale(tier, count) } };
      },
      deploy: async ({ body }) => {
        const d = parseDeploy(body);
        const current = supervisor.status().app;
        const entry = d.entry ?? current.entry;
        if (!existsSync(entry)) {
          throw controlErrors.create("RS_ERR_CATTLE_CONTROL_BAD_REQUEST", `entry: ${entry} does not exist here`);
        }
        const rollout = supervisor.deploy(
          { entry, version: d.version, readyPath: app.readyPath },
          { maxSurge: d.maxSurge, maxUnavailable: d.maxUnavailable },
        );
        const result: DeployResult = { api: controlApiVersion, rollout };
        return { status: 202, body: result };
      },
      evacuate: async () => {
        const result: EvacuationResult = { api: controlApiVersion, evacuation: supervisor.evacuate() };
        return { status: 202, body: result };
      },
      restore: async () => {
        const result: EvacuationResult = { api: controlApiVersion, evacuation: supervisor.restoreSite() };
        return { status: 202, body: result };
      },
      stop: async () => {
        const pids = supervisor.pids();
        if (!stopping) {
          stopping = true;
          // Answer first; the caller watches the pids (and ours) go.
          setImmediate(() => {
            supervisor
              .stopAll()
              .then(() => finish(0))
              .catch((err) => {
                log.error("stop failed", { err });
                finish(1);
              });
          });
        }
        const result: StopResult = { api: controlApiVersion, stopping: true, pids: [...pids, process.pid] };
        return { status: 202, body: result };
      },
      faults: async () => {
        const result: FaultsAnswer = { api: controlApiVersion, site: site.name, ...faults.list() };
        return { status: 200, body: result };
      },
      injectFault: async ({ body }) => {
        const asked = parseFaultRequest(body);
        // A site being stopped takes no new faults (stopAll reverts the ones it holds).
        if (supervisor.state !== "running") {
          throw controlErrors.create("RS_ERR_CATTLE_CONTROL_STOPPING", supervisor.state);
        }
        const result: FaultAnswer = { api: controlApiVersion, fault: await faults.inject(asked) };
        return { status: 201, body: result };
      },
      healFault: async ({ params }) => {
        const result: HealAnswer = { api: controlApiVersion, healed: await faults.heal(params.id ?? "") };
        return { status: 200, body: result };
      },
      sun: async ({ body }) => {
        const asked = parseSunRequest(body, clock.nowMs());
        const result: SunResult = { api: controlApiVersion, site: site.name, sun: supervisor.setSunClock(asked) };
        return { status: 200, body: result };
      },
      metrics: async () => ({
        status: 200,
        body: metrics.registry.render(),
        contentType: "text/plain; version=0.0.4",
      }),
    },
  });
  try {
    await server.start();
    await supervisor.start();
  } catch (err) {
    await server.stop();
    release();
    throw err;
  }
  const onSignal = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info("leaving; instances keep running", { signal });
    void supervisor.stop().then(() => finish(0));
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.stdout.write(
    `${JSON.stringify({ event: "ready", role: "supervisor", site: site.name, control: `http://${self.host}:${server.port}`, pid: process.pid, adopted: supervisor.status().supervisor.adopted })}\n`,
  );
  const code = await finished;
  await supervisor.stop();
  await server.stop();
  release();
  log.info("supervisor exits", { code });
  return code;
}

/** Sets a store node's clock offset through its authenticated admin route (offset 0 clears it). */
async function skewStoreClock(
  planet: Planet,
  secret: Buffer,
  nodeId: string,
  body: { offsetMs: number; ttlMs: number; faultId: string },
): Promise<void> {
  const node = planet.storeNodes.find((n) => n.id === nodeId);
  if (!node) throw controlErrors.create("RS_ERR_CATTLE_CONTROL_NO_TARGET", `${nodeId}: not a store node of the planet`);
  let res: Awaited<ReturnType<typeof request>>;
  let text: string;
  try {
    res = await request(`http://${node.host}:${node.port}/v1/admin/clock-skew`, {
      method: "POST",
      headers: { authorization: `Bearer ${controlBearerToken(secret)}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      headersTimeout: probeTimeoutMs * 4,
      bodyTimeout: probeTimeoutMs * 4,
    });
    text = await res.body.text();
  } catch (cause) {
    throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${nodeId} did not answer: ${String(cause)}`, {
      cause,
    });
  }
  if (res.statusCode !== 200) {
    throw controlErrors.create("RS_ERR_CATTLE_CONTROL_FAULT_REFUSED", `${nodeId} answered ${res.statusCode}: ${text}`);
  }
}
