// Hand-made histories for tests: a builder that fills in what a test does not care about
// (times, attempts, keys, the serving site) so each test states only the anomaly it plants.
import type { FaultRecord, HistoryRecord, OpRecord, Outcome } from "../history.ts";

export type BuilderPlanet = {
  readonly sites: readonly string[];
  /** region → its nearest site */
  readonly regions: Readonly<Record<string, string>>;
  readonly sessionTtlS?: number;
};

export const twoSites: BuilderPlanet = { sites: ["north", "south"], regions: { nr: "north", sr: "south" } };

type OpInput = Partial<Omit<OpRecord, "type" | "outcome">> & {
  kind: OpRecord["kind"];
  user: string;
  outcome?: Outcome;
  durationMs?: number;
};

export class HistoryBuilder {
  readonly #planet: BuilderPlanet;
  readonly #records: HistoryRecord[] = [];
  readonly #regionOf = new Map<string, string>();
  #nowMs = 0;
  #keys = 0;
  #ops = 0;

  constructor(planet: BuilderPlanet = twoSites, seed = 1) {
    this.#planet = planet;
    this.#records.push({
      type: "header",
      format: "redshirt-history",
      version: 1,
      seed,
      commit: "test",
      planet: "test-planet",
      sites: planet.sites.map((name) => ({ name })),
      regions: Object.entries(planet.regions).map(([name, nearestSite]) => ({ name, nearestSite })),
      ...(planet.sessionTtlS === undefined ? {} : { sessionTtlS: planet.sessionTtlS }),
    });
  }

  get nowMs(): number {
    return this.#nowMs;
  }

  /** Moves the builder's clock (the next op starts here unless it says otherwise). */
  at(ms: number): this {
    this.#nowMs = ms;
    return this;
  }

  /** Places a user in a region (default: the first region). */
  user(user: string, region: string): this {
    this.#regionOf.set(user, region);
    return this;
  }

  /** Appends an op; unspecified fields get plausible values (ok, served by the nearest site). Returns the op's line. */
  op(input: OpInput): number {
    const { durationMs = 10, outcome = { result: "ok" }, ...rest } = input;
    const region = rest.region ?? this.#regionOf.get(input.user) ?? Object.keys(this.#planet.regions)[0];
    const startMs = rest.startMs ?? this.#nowMs;
    const endMs = rest.endMs ?? startMs + durationMs;
    const mutation = ["login", "logout", "cart.add", "cart.set", "cart.remove", "checkout"].includes(input.kind);
    const site = this.#planet.regions[region];
    const op: OpRecord = {
      type: "op",
      attempts: 1,
      ...(mutation ? { idempotencyKey: `k${++this.#keys}` } : {}),
      ...(outcome.result === "ok" || outcome.result === "error" ? { served: { site, instance: `${site}-app-1` } } : {}),
      ...rest,
      region,
      startMs,
      endMs,
      outcome,
    };
    this.#records.push(op);
    this.#ops++;
    this.#nowMs = endMs + 1;
    return this.#records.length;
  }

  fault(fault: Omit<FaultRecord, "type">): this {
    this.#records.push({ type: "fault", ...fault });
    return this;
  }

  /** The records, closed by an end record unless `cut` (a run cut short). */
  build(options: { cut?: boolean; reason?: "complete" | "interrupted" } = {}): HistoryRecord[] {
    if (options.cut) return [...this.#records];
    return [
      ...this.#records,
      { type: "end", endMs: this.#nowMs, reason: options.reason ?? "complete", ops: this.#ops },
    ];
  }
}
