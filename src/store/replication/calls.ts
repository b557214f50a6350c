// Request and reply between nodes: a message that expects an answer carries a call id, and
// the answer (readres, repaired, hinted, fwdres) is routed back to the one-shot handler
// registered under it. The registry is bounded: past `pendingRequestsMax` the oldest call is
// failed, as the one least likely to be answered.
//
// A call id names this run of the process, not only a sequence number: the sequence starts
// again at every start, and a peer may still answer a call of the previous run (a forwarded
// write it acknowledges seconds later, a read it answers once its stream caught up) on the
// connection the restarted node has opened since. With ids `node:seq` alone that answer was
// taken for the new run's call of the same number — a forwarded write answered with another
// write's result (acknowledged, never applied), a read with another key's value.
import type { WireMessage } from "../wire/transport.ts";
import { pendingRequestsMax } from "./engine-constants.ts";

export class Calls {
  /** `node:run:`, where run is drawn at every start, so no two runs of a node share an id. */
  readonly #prefix: string;
  readonly #calls = new Map<string, (message: WireMessage) => void>();
  #seq = 0;

  constructor(self: string, runId: string) {
    this.#prefix = `${self}:${runId}:`;
  }

  /** Registers a one-shot reply handler and returns its call id. */
  call(onReply: (message: WireMessage) => void): string {
    const callId = `${this.#prefix}${++this.#seq}`;
    if (this.#calls.size >= pendingRequestsMax) {
      // The oldest calls are the ones least likely to be answered.
      const oldest = this.#calls.keys().next().value as string;
      this.#calls.get(oldest)?.(["error", "dropped"]);
      this.#calls.delete(oldest);
    }
    this.#calls.set(callId, (m) => {
      this.#calls.delete(callId);
      onReply(m);
    });
    return callId;
  }

  /** The handler waiting for this call id's reply, if any. */
  get(callId: string): ((message: WireMessage) => void) | undefined {
    return this.#calls.get(callId);
  }

  /** Forgets a call whose caller gave up on it. */
  delete(callId: string): void {
    this.#calls.delete(callId);
  }

  /** Answers every waiting call with an error (the node is stopping). */
  failAll(reason: string): void {
    for (const respond of this.#calls.values()) respond(["error", reason]);
    this.#calls.clear();
  }
}
