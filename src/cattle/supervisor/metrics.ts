// The supervisor's Prometheus metrics (served by its control API at /metrics). Every
// failure a handler absorbs is counted here under a name that says why; a healthy run keeps
// the *_failures counters at 0.
import { Registry } from "../../core/index.ts";

export class SupervisorMetrics {
  readonly registry = new Registry();
  readonly starts = this.registry.counter("redshirt_supervisor_starts_total", "Instances started, by tier");
  readonly ready = this.registry.counter("redshirt_supervisor_ready_total", "Instances that passed readiness, by tier");
  readonly faults = this.registry.counter("redshirt_supervisor_faults_total", "Chaos faults applied, by kind");
  readonly faultKills = this.registry.counter(
    "redshirt_supervisor_fault_kills_total",
    "Instances SIGKILLed by a chaos fault (not counted as failures of their slot), by tier",
  );
  readonly faultFailures = this.registry.counter(
    "redshirt_supervisor_fault_failures_total",
    "Steps of applying or reverting a fault that failed, by step (load, save, wipe, unskew)",
  );
  readonly deaths = this.registry.counter(
    "redshirt_supervisor_deaths_total",
    "Instances that died without being asked to, by tier and whether they had been ready",
  );
  readonly readyTimeouts = this.registry.counter(
    "redshirt_supervisor_ready_timeouts_total",
    "Instances killed because they were not ready in time, by tier",
  );
  readonly adopted = this.registry.counter(
    "redshirt_supervisor_adopted_total",
    "Living instances a starting supervisor took over instead of starting duplicates, by tier",
  );
  readonly duplicates = this.registry.counter(
    "redshirt_supervisor_duplicates_stopped_total",
    "Processes found holding a slot another instance holds, stopped",
  );
  readonly replaceMs = this.registry.histogram(
    "redshirt_supervisor_replace_ms",
    "From a death seen to its replacement ready, by tier",
    [50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000],
  );
  readonly drains = this.registry.counter(
    "redshirt_supervisor_drains_total",
    "Drains finished, by how: confirmed (every gateway showed it out), unconfirmed (a gateway had no backends view) or timeout (the bounded wait ran out)",
  );
  readonly rollouts = this.registry.counter(
    "redshirt_supervisor_rollouts_total",
    "Rollouts by outcome: done, halted (a new instance failed; rolling back), rolled-back",
  );
  readonly drainMs = this.registry.histogram(
    "redshirt_supervisor_drain_ms",
    "From the drain mark to SIGTERM (every gateway showed the instance out with nothing in flight, or the wait ran out)",
    [50, 100, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000],
  );
  readonly drainNoView = this.registry.counter(
    "redshirt_supervisor_drain_no_view_total",
    "Drain checks answered by a gateway without a backends view (nothing to confirm with)",
  );
  readonly drainMarkFailures = this.registry.counter(
    "redshirt_supervisor_drain_mark_failures_total",
    "Drain-set writes to the store that failed, by op",
  );
  readonly killsAfterGrace = this.registry.counter(
    "redshirt_supervisor_kills_after_grace_total",
    "Instances that needed SIGKILL after the SIGTERM grace, by tier",
  );
  readonly spawnFailures = this.registry.counter(
    "redshirt_supervisor_spawn_failures_total",
    "Instances whose command could not be started at all, by tier",
  );
  readonly persistFailures = this.registry.counter(
    "redshirt_supervisor_persist_failures_total",
    "State-file writes that failed (the next change tries again)",
  );
  readonly controlRequests = this.registry.counter(
    "redshirt_supervisor_control_requests_total",
    "Control API requests, by route and status",
  );
  readonly controlUnauthorized = this.registry.counter(
    "redshirt_supervisor_control_unauthorized_total",
    "Control API requests refused for a missing or wrong bearer token",
  );
  readonly controlFailures = this.registry.counter(
    "redshirt_supervisor_control_failures_total",
    "Control API requests that failed inside the supervisor (answered 500)",
  );
  readonly steeringFailures = this.registry.counter(
    "redshirt_supervisor_steering_failures_total",
    "Calls to the planet's DNS servers (weight reads and writes, answer checks) that got a wrong answer (an error status, a body that is not the weights), by what and server",
  );
  readonly steeringUnreachable = this.registry.counter(
    "redshirt_supervisor_steering_unreachable_total",
    "Calls to DNS servers that refused the connection or did not answer in time (a server still booting, or down), by server",
  );
  readonly weightWrites = this.registry.counter(
    "redshirt_supervisor_weight_writes_total",
    "Writes of this site's DNS weight to a DNS server that showed another value, by server",
  );
  readonly evacuationPhases = this.registry.counter(
    "redshirt_supervisor_evacuation_phases_total",
    "Evacuation phases entered (evacuating, evacuated, restoring, serving)",
  );
  readonly sunChanges = this.registry.counter(
    "redshirt_supervisor_sun_changes_total",
    "Changes of the app tier's count made by follow-the-sun",
  );
}
