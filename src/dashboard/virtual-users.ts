// The virtual users the page starts and stops: runLoad of src/load (the users of `redshirt
// load` and `redshirt proof`) in this process, for as long as they run, every finished op
// handed to the dashboard instead of a history file. Stopping lets the ops in flight finish
// (bounded by the load's opTimeMsMax); stop() of the whole dashboard waits for them.
import { loadConstants, runLoad } from "../load/index.ts";
import type { Planet } from "../topology/index.ts";
import type { OpRecord } from "../verify/index.ts";
import { dashboardErrors } from "./errors.ts";

type Run = { readonly abort: AbortController; readonly done: Promise<void>; readonly usersPerRegion: number };

export class VirtualUsers {
  readonly #planet: Planet;
  readonly #onOp: (op: OpRecord) => void;
  readonly #onFailure: (err: unknown) => void;
  #run: Run | undefined;
  /** Runs told to stop whose ops in flight are still finishing. */
  readonly #draining = new Set<Promise<void>>();

  constructor(planet: Planet, onOp: (op: OpRecord) => void, onFailure: (err: unknown) => void) {
    this.#planet = planet;
    this.#onOp = onOp;
    this.#onFailure = onFailure;
  }

  /** Users per region of the run going on (0: none). */
  get usersPerRegion(): number {
    return this.#run?.usersPerRegion ?? 0;
  }

  /** Starts users in every client region; false when they already run. */
  start(usersPerRegion: number, seed: number): boolean {
    if (this.#run) return false;
    if (this.#planet.clients.length === 0) {
      throw dashboardErrors.create(
        "RS_ERR_DASHBOARD_BAD_REQUEST",
        "usersPerRegion: the planet has no clients: section, so no region to run users in",
      );
    }
    const abort = new AbortController();
    const done = runLoad({
      planet: this.#planet,
      seed,
      durationMs: loadConstants.durationMsMax,
      usersPerRegion,
      signal: abort.signal,
      history: { write: async (op) => this.#onOp(op) },
    }).then(
      () => {},
      (err) => {
        if (this.#run?.abort === abort) this.#run = undefined;
        this.#onFailure(err);
      },
    );
    this.#run = { abort, done, usersPerRegion };
    return true;
  }

  /** Stops users starting new ops; false when none ran. */
  stop(): boolean {
    const run = this.#run;
    if (!run) return false;
    this.#run = undefined;
    run.abort.abort();
    this.#draining.add(run.done);
    void run.done.then(() => this.#draining.delete(run.done));
    return true;
  }

  /** Stops and waits until every op in flight has finished. */
  async close(): Promise<void> {
    this.stop();
    await Promise.all(this.#draining);
  }
}
