// Defaults of the rendered manifests and units, and how they relate to the timers of the
// processes they run: a grace period that ends before a process's own drain would turn a
// clean stop into a SIGKILL, so every relation is asserted at load.
import { supervisorConstants } from "../cattle/index.ts";
import { assert } from "../core/index.ts";
import { sdkConstants } from "../sdk/index.ts";
import { gatewayStopMsMax, leaveDnsMsDefault } from "../traffic/index.ts";

/** Where the image holds the project (Containerfile) and where units expect it by default. */
export const installDirDefault = "/opt/redshirt";
/** Where units find the planet file and its secret by default (systemd). */
export const configDirDefault = "/etc/redshirt";
/** The Node binary units run by default (a Debian/NodeSource install of Node 24). */
export const nodeBinDefault = "/usr/bin/node";
/** The app every site runs unless told, relative to the install dir. */
export const appEntryDefault = "examples/shop/server.ts";
export const appVersionDefault = "1";
export const imageDefault = "ghcr.io/redshirt/redshirt:0.1.0";
export const namespaceDefault = "redshirt";
/** The dedicated system user of the systemd units (created by the operator: `useradd --system redshirt`). */
export const systemUser = "redshirt";
/** The non-root uid the containers run as (the Containerfile creates it). */
export const containerUid = 10001;

/** In a pod: the planet file (a ConfigMap), the planet secret (a Secret), the store data (a PVC). */
export const podPlanetDir = "/etc/redshirt/planet";
export const podSecretDir = "/etc/redshirt/secret";
export const podDataDir = "/var/lib/redshirt";

/**
 * systemd back-off, in the shape of our supervisor's (200 ms doubling to 30 s): the first
 * restart after RestartSec, growing over RestartSteps to RestartMaxDelaySec. systemd's own
 * default (100 ms, 5 starts in 10 s, then the unit is given up) is what operators complain of.
 */
export const restartSecMs = supervisorConstants.backoffBaseMs;
export const restartMaxDelayMs = supervisorConstants.backoffMaxMs;
export const restartSteps = 8;
/** StartLimitIntervalSec=0 turns systemd's start rate limit off: a unit in a crash loop is never given up. */
export const startLimitIntervalS = 0;

/**
 * Kubernetes: a gateway's preStop waits this long before its SIGTERM, so the cluster's load
 * balancer and kube-proxy have stopped sending it new connections (endpoint removal and the
 * SIGTERM race otherwise); the gateway's own drain (healthz 503 for leaveDnsMs, then the
 * grace for requests in flight) follows the signal.
 */
export const gatewayPreStopSleepMs = 3_000;

/** Seconds from SIGTERM (preStop included) to SIGKILL, per process kind: the supervisor's grace, which each process's own stop fits in. */
export const stopGraceMsByTier = supervisorConstants.stopGraceMsByTier;
export const gatewayTerminationGraceMs = gatewayPreStopSleepMs + stopGraceMsByTier.gateway;

/** Readiness probes (Kubernetes): often enough to pace a rollout, failing after a few misses. */
export const readinessPeriodS = 2;
export const readinessFailureThreshold = 2;
/** Liveness: far slower, so a loaded node restarts nothing that is merely slow. */
export const livenessPeriodS = 10;
export const livenessFailureThreshold = 6;
export const probeTimeoutS = 2;
/** A store node refilling after a disk loss serves no read until it has every partition: give it long to become ready. */
export const storeStartupFailureThreshold = 180;

/** Requests and limits per process kind (a starting point; docs/operating.md says what to watch). */
export const resourcesByTier = {
  store: { requests: { cpu: "500m", memory: "512Mi" }, limits: { cpu: "2", memory: "1Gi" } },
  gateway: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
  dns: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
  app: { requests: { cpu: "250m", memory: "256Mi" }, limits: { cpu: "1", memory: "512Mi" } },
  netinit: { requests: { cpu: "10m", memory: "16Mi" }, limits: { cpu: "100m", memory: "64Mi" } },
} as const;
export const storeVolumeSizeDefault = "20Gi";

assert(restartSecMs < restartMaxDelayMs && restartSteps >= 1, "the back-off grows from its first step to its cap");
assert(
  gatewayStopMsMax < stopGraceMsByTier.gateway && leaveDnsMsDefault < gatewayStopMsMax,
  "a gateway's own drain fits its kill grace",
);
assert(gatewayTerminationGraceMs > gatewayPreStopSleepMs + gatewayStopMsMax, "preStop and drain fit the pod's grace");
assert(
  stopGraceMsByTier.app > sdkConstants.drainNoticeMsDefault + sdkConstants.drainTimeoutMsDefault,
  "an app pod's grace covers the SDK's drain notice and its wait for requests in flight",
);
assert(
  readinessPeriodS * readinessFailureThreshold < livenessPeriodS * livenessFailureThreshold,
  "liveness is the slower judge",
);
