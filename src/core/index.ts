// core: what every part stands on — the error base class and registries, assertions,
// the injected clock and randomness, JSON-line logs, tracing channels, Prometheus metrics,
// and the one lifecycle of long-lived things.
export { AssertionFailed, assert } from "./assert.ts";
export { writeFileAtomic } from "./atomic-file.ts";
export { type Clock, ManualClock, systemClock, type TimerHandle } from "./clock.ts";
export {
  defineErrors,
  type ErrorFactory,
  type ErrorSpec,
  errorRegistries,
  isRedshirtError,
  RedshirtError,
} from "./errors.ts";
export {
  type Launched,
  type LaunchOptions,
  launch,
  nodeBin,
  readyTimeoutMsDefault,
  stopAll,
  stopGraceMsDefault,
} from "./launcher.ts";
export type { Startable } from "./lifecycle.ts";
export { channel, createLogger, type Logger, type LogLevel } from "./log.ts";
export { Counter, defaultLatencyBucketsMs, Gauge, Histogram, Registry } from "./metrics.ts";
export { type Random, seededRandom, systemRandom } from "./random.ts";
export {
  controlBearerToken,
  coreErrors,
  hmacHex,
  isControlAuthorized,
  loadPlanetSecret,
  macEqual,
  planetSecretBytes,
  planetSecretFile,
  planetSecretFileName,
} from "./secret.ts";
