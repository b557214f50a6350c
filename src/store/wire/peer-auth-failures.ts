// Every refused node-to-node handshake is counted, by reason and side, and logged; but a
// process hammering the peer port (or a node with the wrong secret redialing every second)
// must not flood the log, so each address is logged at most once per peerAuthLogIntervalMs,
// with the number of refusals left out since its last line.
import type { Clock, Counter, Logger, Registry } from "../../core/index.ts";
import { peerAuthLogAddressesMax, peerAuthLogIntervalMs } from "../constants.ts";
import type { HandshakeFailure } from "./handshake.ts";

export type PeerAuthSide = "inbound" | "outbound";

export class PeerAuthFailures {
  readonly #counter: Counter;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** Per address: when it was last logged, and the refusals not logged since. */
  readonly #byAddress = new Map<string, { loggedMs: number; suppressed: number }>();

  constructor(metrics: Registry, log: Logger, clock: Clock) {
    this.#counter = metrics.counter(
      "redshirt_store_peer_auth_failures_total",
      "Node-to-node connections closed because the planet-secret handshake failed, by reason and side (inbound: dialed to this node; outbound: dialed by it).",
    );
    this.#log = log;
    this.#clock = clock;
  }

  /** Refusals counted so far for a reason (all sides), for tests and health checks. */
  count(reason: string, side?: PeerAuthSide): number {
    if (side) return this.#counter.get({ reason, side });
    return this.#counter.get({ reason, side: "inbound" }) + this.#counter.get({ reason, side: "outbound" });
  }

  record(side: PeerAuthSide, address: string, failure: HandshakeFailure, fields: Record<string, unknown> = {}): void {
    this.#counter.inc({ reason: failure.failure, side });
    const now = this.#clock.monoMs();
    const seen = this.#byAddress.get(address);
    if (seen && now - seen.loggedMs < peerAuthLogIntervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    // Re-inserted, so the map's order is by last log line and the oldest goes first.
    this.#byAddress.delete(address);
    if (this.#byAddress.size >= peerAuthLogAddressesMax) {
      this.#byAddress.delete(this.#byAddress.keys().next().value as string);
    }
    this.#byAddress.set(address, { loggedMs: now, suppressed: 0 });
    this.#log.warn("refused a node-to-node handshake", {
      code: "RS_ERR_STORE_PEER_AUTH",
      side,
      address,
      reason: failure.failure,
      why: failure.text,
      ...fields,
      ...(suppressed > 0 ? { notLoggedSinceLastLine: suppressed } : {}),
    });
  }
}
